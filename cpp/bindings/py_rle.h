// COCO RLE <-> Python dict {"size": [h, w], "counts": bytes}, shared by the binding files.
#pragma once

#include <pybind11/pybind11.h>

#include <string>

#include "mrcnn/codecs/rle.h"

namespace mrcnn::bindings {

inline pybind11::dict rle_to_dict(const codecs::Rle& r) {
  pybind11::dict d;
  pybind11::list size;
  size.append(r.h);
  size.append(r.w);
  d["size"] = size;
  d["counts"] = pybind11::bytes(codecs::rle_to_string(r));
  return d;
}

}  // namespace mrcnn::bindings
