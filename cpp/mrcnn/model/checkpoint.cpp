#include "mrcnn/model/checkpoint.h"

#include <torch/csrc/jit/serialization/pickle.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <stdexcept>

namespace mrcnn::model {

namespace {

constexpr const char* kFormat = "mrcnn-checkpoint-1";

[[noreturn]] void fail(const std::string& path, const std::string& why) {
  throw std::invalid_argument(path + ": " + why);
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

std::vector<char> read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw std::invalid_argument(path + ": cannot open (" + std::strerror(errno) + ")");
  return std::vector<char>(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

c10::IValue unpickle(const std::string& path) {
  const std::vector<char> bytes = read_file(path);
  try {
    return torch::pickle_load(bytes);
  } catch (const c10::Error& e) {
    fail(path, std::string("cannot be read from C++ (") + e.what_without_backtrace() +
                   "). It must be a torch.save'd plain dict of tensors; a state_dict() as saved keeps an "
                   "OrderedDict with metadata, which only Python's torch.load reads: save dict(model.state_dict()) "
                   "or load it with torch.load and pass the dict");
  }
}

}  // namespace

void save_checkpoint(const std::string& path, const Checkpoint& c) {
  c10::impl::GenericDict d(c10::StringType::get(), c10::AnyType::get());
  d.insert("format", std::string(kFormat));
  d.insert("weights", to_dict(c.weights));
  d.insert("config", c.config_json);
  d.insert("class_names", c10::List<std::string>(c.class_names));
  d.insert("epoch", c.epoch);
  d.insert("optimizer", to_dict(c.optimizer));
  d.insert("extra", c.extra_json);
  const std::vector<char> bytes = torch::pickle_save(c10::IValue(d));

  const std::string tmp = path + ".tmp-" + std::to_string(::getpid());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) fail(path, std::string("cannot write a checkpoint here (") + std::strerror(errno) + ")");
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0) {
      const std::string why = std::strerror(errno);
      ::close(fd);
      std::remove(tmp.c_str());
      fail(path, "writing the checkpoint failed (" + why + "); the previous file is untouched");
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    std::remove(tmp.c_str());
    fail(path, std::string("flushing the checkpoint failed (") + std::strerror(errno) + ")");
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
  if (!d.contains("format") || !d.at("format").isString() || d.at("format").toStringRef() != kFormat)
    fail(path, "not an mrcnn checkpoint (no 'format': '" + std::string(kFormat) + "'); for a torchvision "
               "state_dict use load_weights");
  Checkpoint c;
  c.weights = from_dict(d.at("weights"), path, "'weights'");
  c.config_json = d.at("config").toStringRef();
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
  if (d.contains("format") && d.at("format").isString() && d.at("format").toStringRef() == kFormat)
    return from_dict(d.at("weights"), path, "'weights'");
  for (const char* key : {"model", "state_dict", "weights"})
    if (d.contains(key) && d.at(key).isGenericDict()) return from_dict(d.at(key), path, key);
  std::map<std::string, torch::Tensor> out = from_dict(v, path, "the file");
  if (out.empty()) fail(path, "holds no tensors");
  return out;
}

}  // namespace mrcnn::model
