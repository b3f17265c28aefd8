#include "mrcnn/model/checkpoint.h"

#include "mrcnn/model/config.h"

#include <caffe2/serialize/inline_container.h>
#include <torch/csrc/jit/serialization/export.h>
#include <torch/csrc/jit/serialization/import_read.h>
#include <torch/csrc/jit/serialization/pickle.h>
#include <torch/csrc/jit/serialization/pickler.h>
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <stdexcept>

namespace mrcnn::model {

const char* const kCheckpointFormat = "mrcnn-checkpoint-2";

int64_t checkpoint_format_version(const std::string& format) {
  if (format.empty()) return 0;
  if (format == "mrcnn-checkpoint-1") return 1;
  if (format == kCheckpointFormat) return 2;
  throw std::invalid_argument("checkpoint format '" + format + "' is not one this version of mrcnn reads ('" +
                              kCheckpointFormat + "', 'mrcnn-checkpoint-1'); a newer mrcnn may have written it");
}

namespace {

[[noreturn]] void fail(const std::string& path, const std::string& why) {
  throw std::invalid_argument(path + ": " + why);
}

int64_t format_of(const c10::impl::GenericDict& d, const std::string& path) {
  if (!d.contains("format") || !d.at("format").isString()) return 0;
  try {
    return checkpoint_format_version(d.at("format").toStringRef());
  } catch (const std::invalid_argument& e) {
    fail(path, e.what());
  }
}

c10::Dict<std::string, at::Tensor> to_dict(const std::map<std::string, torch::Tensor>& m) {
  c10::Dict<std::string, at::Tensor> d;
  for (const auto& [k, v] : m) d.insert(k, v.detach().cpu());
  return d;
}

std::map<std::string, torch::Tensor> from_dict(const c10::IValue& v, const std::string& path, const char* what) {
  if (!v.isGenericDict()) fail(path, std::string(what) + " is not a dict");
  std::map<std::string, torch::Tensor> out;
  for (const auto& item : v.toGenericDict()) {
    if (!item.key().isString()) fail(path, std::string(what) + " has a key that is not a string");
    if (!item.value().isTensor()) continue;  // e.g. torchvision's _metadata; not weights
    out[item.key().toStringRef()] = item.value().toTensor();
  }
  return out;
}

c10::IValue unpickle(const std::string& path) {
  {
    std::ifstream probe(path, std::ios::binary);
    if (!probe) throw std::invalid_argument(path + ": cannot open (" + std::strerror(errno) + ")");
  }
  try {
    // what torch::pickle_load does, reading the records from the file instead of a copy in memory
    caffe2::serialize::PyTorchStreamReader reader(path);
    return torch::jit::readArchiveAndTensors("data", "", "", c10::nullopt, c10::nullopt, c10::nullopt, reader);
  } catch (const c10::Error& e) {
    fail(path, std::string("cannot be read from C++ (") + e.what_without_backtrace() +
                   "). It must be a torch.save'd plain dict of tensors; a state_dict() as saved keeps an "
                   "OrderedDict with metadata, which only Python's torch.load reads: save dict(model.state_dict()) "
                   "or load it with torch.load and pass the dict");
  }
}

// Removes the temporary files (<name>.pt.tmp-<pid>, <name>.pth.tmp-<pid>) that writes killed before
// their rename left in path's directory: those whose process no longer exists.
void remove_stale_temporaries(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::path dir = fs::path(path).parent_path();
  if (dir.empty()) dir = ".";
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    const size_t tag = name.rfind(".tmp-");
    if (tag == std::string::npos) continue;
    const std::string stem = name.substr(0, tag), pid = name.substr(tag + 5);
    const bool ours = (stem.size() > 3 && stem.compare(stem.size() - 3, 3, ".pt") == 0) ||
                      (stem.size() > 4 && stem.compare(stem.size() - 4, 4, ".pth") == 0);
    if (!ours || pid.empty() || pid.size() > 9 || pid.find_first_not_of("0123456789") != std::string::npos) continue;
    const pid_t owner = static_cast<pid_t>(std::stol(pid));
    if (owner == ::getpid() || ::kill(owner, 0) == 0 || errno != ESRCH) continue;  // ours now, or alive
    std::error_code ignored;
    fs::remove(it->path(), ignored);
  }
}

}  // namespace

void save_checkpoint(const std::string& path, const Checkpoint& c) {
  c10::impl::GenericDict d(c10::StringType::get(), c10::AnyType::get());
  d.insert("format", std::string(kCheckpointFormat));
  d.insert("weights", to_dict(c.weights));
  d.insert("config", c.config_json);
  d.insert("class_names", c10::List<std::string>(c.class_names));
  d.insert("epoch", c.epoch);
  d.insert("optimizer", to_dict(c.optimizer));
  d.insert("extra", c.extra_json);
  // torch.save's format (what torch::pickle_save makes), streamed to the file instead of being
  // assembled in memory first: the pickle of the dict, then each tensor's storage as a record
  // Containers are written untagged (no torch.jit._pickle.restore_type_tag), so torch.load's
  // weights_only unpickler, the default since torch 2.6, reads the file.
  std::vector<char> pickle;
  torch::jit::Pickler pickler([&](const char* buf, size_t size) { pickle.insert(pickle.end(), buf, buf + size); },
                              nullptr, nullptr, nullptr, nullptr, /*tag_aggregates=*/false);
  pickler.protocol();
  pickler.pushIValue(c10::IValue(d));
  pickler.stop();

  remove_stale_temporaries(path);
  const std::string tmp = path + ".tmp-" + std::to_string(::getpid());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) fail(path, std::string("cannot create the checkpoint file (") + std::strerror(errno) + ")");
  // torch's writer gets a sink that never fails: a write error (disk full, file size limit) is
  // remembered and the rest discarded. An exception inside torch's writer would otherwise be thrown
  // again by its destructor while unwinding, which terminates the process (and a notebook's kernel).
  int write_errno = 0;
  const auto sink = [&](const void* data, size_t n) -> size_t {
    const char* p = static_cast<const char*>(data);
    size_t left = n;
    while (left > 0 && write_errno == 0) {
      const ssize_t written = ::write(fd, p, left);
      if (written < 0) {
        if (errno != EINTR) write_errno = errno;
        continue;
      }
      p += written;
      left -= static_cast<size_t>(written);
    }
    return n;
  };
  std::string error;
  try {
    caffe2::serialize::PyTorchStreamWriter writer(sink);
    torch::jit::writeArchiveAndTensors("data", pickle.data(), pickle.size(), pickler.tensorData(), writer);
    writer.writeEndOfFile();
  } catch (const c10::Error& e) {
    error = e.what_without_backtrace();
  } catch (const std::exception& e) {
    error = e.what();
  }
  if (error.empty() && write_errno == 0 && ::fsync(fd) != 0) write_errno = errno;
  if (::close(fd) != 0 && write_errno == 0) write_errno = errno;
  if (error.empty() && write_errno != 0) error = std::strerror(write_errno);
  if (!error.empty()) {
    std::remove(tmp.c_str());
    fail(path, "writing the checkpoint failed (" + error + "); the previous file is untouched");
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    fail(path, std::string("renaming the checkpoint into place failed (") + std::strerror(errno) + ")");
  }
}

Checkpoint load_checkpoint(const std::string& path) {
  const c10::IValue v = unpickle(path);
  if (!v.isGenericDict()) fail(path, "not an mrcnn checkpoint (the top level is not a dict)");
  const auto d = v.toGenericDict();
  const int64_t version = format_of(d, path);
  if (version == 0)
    fail(path, "not an mrcnn checkpoint (no 'format': '" + std::string(kCheckpointFormat) + "'); for a torchvision "
               "state_dict use load_weights");
  Checkpoint c;
  c.weights = from_dict(d.at("weights"), path, "'weights'");
  c.config_json = Config::upgrade_json(d.at("config").toStringRef(), version);
  for (const auto& name : d.at("class_names").toListRef()) c.class_names.push_back(name.toStringRef());
  c.epoch = d.at("epoch").toInt();
  c.optimizer = from_dict(d.at("optimizer"), path, "'optimizer'");
  c.extra_json = d.at("extra").toStringRef();
  return c;
}

std::map<std::string, torch::Tensor> load_tensor_file(const std::string& path) {
  const c10::IValue v = unpickle(path);
  if (!v.isGenericDict()) fail(path, "expected a dict of tensors (a state_dict)");
  const auto d = v.toGenericDict();
  if (format_of(d, path) != 0)
    return from_dict(d.at("weights"), path, "'weights'");
  for (const char* key : {"model", "state_dict", "weights"})
    if (d.contains(key) && d.at(key).isGenericDict()) return from_dict(d.at(key), path, key);
  std::map<std::string, torch::Tensor> out = from_dict(v, path, "the file");
  if (out.empty()) fail(path, "holds no tensors");
  return out;
}

}  // namespace mrcnn::model
