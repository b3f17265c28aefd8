// Typed option objects for Python: a C++ options struct bound field by field (each with its
// default and a docstring) and built from keywords, so that a misspelt option or a value of the
// wrong type raises a TypeError naming it instead of being ignored or reaching a cast error.
#pragma once

#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

namespace mrcnn::bindings {

namespace py = pybind11;

// Binds T as a Python class `name` with read-write fields and a keyword constructor:
//   OptionsClass<T>(m, "TrainOptions", "doc").field("learning_rate", &T::learning_rate, "doc")...
template <class T>
class OptionsClass {
 public:
  OptionsClass(py::module_& m, const char* name, const char* doc)
      : cls_(m, name, doc), name_(name), fields_(std::make_shared<std::vector<std::string>>()) {
    auto fields = fields_;
    const std::string type_name = name;
    cls_.def(py::init([fields, type_name](const py::kwargs& kwargs) {
               py::object self = py::cast(T{}, py::return_value_policy::move);
               set(self, kwargs, type_name, *fields);
               return self.cast<T>();
             }),
             "Options by keyword; the others keep their defaults");
    cls_.def("__repr__", [fields, type_name](const py::object& self) {
      std::string out = type_name + "(";
      for (size_t i = 0; i < fields->size(); ++i)
        out += (i ? ", " : "") + (*fields)[i] + "=" + std::string(py::repr(self.attr((*fields)[i].c_str())));
      return out + ")";
    });
    cls_.def("to_dict", [fields](const py::object& self) {
      py::dict d;
      for (const auto& f : *fields) d[f.c_str()] = self.attr(f.c_str());
      return d;
    });
    cls_.def_property_readonly_static("FIELDS", [fields](const py::object&) { return *fields; });
  }

  template <class V>
  OptionsClass& field(const char* name, V T::*member, const char* doc) {
    cls_.def_readwrite(name, member, doc);
    fields_->push_back(name);
    return *this;
  }

  py::class_<T>& cls() { return cls_; }

  // Sets the fields named in kwargs on self (an instance of the bound class).
  static void set(py::object& self, const py::dict& kwargs, const std::string& type_name,
                  const std::vector<std::string>& fields) {
    for (auto item : kwargs) {
      const std::string key = py::str(item.first);
      if (std::find(fields.begin(), fields.end(), key) == fields.end()) {
        std::string known;
        for (const auto& f : fields) known += (known.empty() ? "" : ", ") + f;
        throw py::type_error(type_name + ": unknown option '" + key + "' (the options are " + known + ")");
      }
      try {
        py::setattr(self, key.c_str(), item.second);
      } catch (py::error_already_set& e) {
        if (!e.matches(PyExc_TypeError)) throw;
        const std::string want = py::str(py::type::of(self.attr(key.c_str())).attr("__name__"));
        const std::string got = py::str(py::type::of(item.second).attr("__name__"));
        throw py::type_error(type_name + "." + key + ": expected " + want + ", got " + got + " " +
                             std::string(py::repr(item.second)));
      }
    }
  }

 private:
  py::class_<T> cls_;
  std::string name_;
  std::shared_ptr<std::vector<std::string>> fields_;
};

}  // namespace mrcnn::bindings
