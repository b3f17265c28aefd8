// mrcnn._C: the Python face of the C++ core. Each area binds itself in init_<area>.cpp.
// Ops are not bound here: they are registered with torch (TORCH_LIBRARY(mrcnn, ...)) and
// reached through torch.ops.mrcnn once this module is loaded.
#include <pybind11/pybind11.h>

namespace py = pybind11;

void init_info(py::module_& m);
void init_codecs(py::module_& m);
void init_model(py::module_& m);
void init_data(py::module_& m);
void init_eval(py::module_& m);
void init_train(py::module_& m);

PYBIND11_MODULE(_C, m) {
  m.doc() = "mrcnn C++ core";
  init_info(m);
  py::module_ codecs = m.def_submodule("codecs", "Mask codecs: COCO RLE, Kaggle RLE strings, polygons");
  init_codecs(codecs);
  py::module_ model = m.def_submodule("model", "The Mask R-CNN network");
  init_model(model);
  py::module_ data = m.def_submodule("data", "Annotation files parsed in C++");
  init_data(data);
  py::module_ ev = m.def_submodule("eval", "COCO evaluation");
  init_eval(ev);
  py::module_ train = m.def_submodule("train", "Data loader and training loop");
  init_train(train);
}
