// Python bindings of the mask codecs. RLEs cross as pycocotools-style dicts
// {"size": [h, w], "counts": bytes}; masks as numpy arrays of any strides.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <string>
#include <vector>

#include "mrcnn/codecs/kaggle_rle.h"
#include "mrcnn/core/parallel.h"
#include "mrcnn/codecs/polygon.h"
#include "py_rle.h"
#include "mrcnn/codecs/rle.h"

namespace py = pybind11;
using namespace mrcnn::codecs;
using mrcnn::bindings::rle_to_dict;

namespace {

// A 2-D or 3-D uint8/bool array as n mask views [h, w(, n)]. Keeps the array alive.
struct Masks {
  py::array arr;
  uint32_t h = 0, w = 0;
  size_t n = 0;
  std::ptrdiff_t rs = 0, cs = 0, ns = 0;  // element strides of rows, columns, masks
  MaskView view(size_t i) const {
    return {static_cast<const uint8_t*>(arr.data()) + static_cast<std::ptrdiff_t>(i) * ns, h, w, rs, cs};
  }
};

Masks as_masks(const py::handle& obj, const char* fn) {
  py::array a = py::array::ensure(obj);
  if (!a) throw py::type_error(std::string(fn) + ": expected a numpy array of masks");
  const char kind = a.dtype().kind();
  if (!((kind == 'u' || kind == 'b' || kind == 'i') && a.itemsize() == 1))
    throw py::value_error(std::string(fn) + ": masks must be uint8 or bool, got dtype " +
                          std::string(py::str(a.dtype())));
  if (a.ndim() != 2 && a.ndim() != 3)
    throw py::value_error(std::string(fn) + ": masks must be HxW or HxWxN, got " +
                          std::to_string(a.ndim()) + " dimensions");
  Masks m;
  m.arr = a;
  m.h = static_cast<uint32_t>(a.shape(0));
  m.w = static_cast<uint32_t>(a.shape(1));
  m.n = a.ndim() == 3 ? static_cast<size_t>(a.shape(2)) : 1;
  m.rs = a.strides(0);
  m.cs = a.strides(1);
  m.ns = a.ndim() == 3 ? a.strides(2) : 0;
  return m;
}

// Parses one RLE dict; `counts` may be the compact string (str or bytes) or a list of run
// lengths. `what` names the object in error messages.
Rle dict_to_rle(const py::handle& obj, const std::string& what) {
  if (!py::isinstance<py::dict>(obj))
    throw py::type_error(what + ": expected an RLE dict with 'size' and 'counts', got " +
                         std::string(py::str(py::type::handle_of(obj).attr("__name__"))));
  py::dict d = py::reinterpret_borrow<py::dict>(obj);
  if (!d.contains("size") || !d.contains("counts"))
    throw py::value_error(what + ": an RLE dict needs the keys 'size' and 'counts'");
  long long h = 0, w = 0;
  try {
    py::sequence size = d["size"].cast<py::sequence>();
    if (py::len(size) != 2) throw py::value_error(what + ": 'size' must be [height, width]");
    h = size[0].cast<long long>(), w = size[1].cast<long long>();
  } catch (const py::cast_error&) {
    throw py::value_error(what + ": 'size' must be [height, width] in whole pixels, got " +
                          std::string(py::repr(d["size"])).substr(0, 80));
  }
  if (h < 0 || w < 0 || h > UINT32_MAX || w > UINT32_MAX)
    throw py::value_error(what + ": invalid size [" + std::to_string(h) + ", " + std::to_string(w) + "]");
  py::object counts = d["counts"];
  try {
    if (py::isinstance<py::bytes>(counts)) {
      char* buf;
      ssize_t len;
      PYBIND11_BYTES_AS_STRING_AND_SIZE(counts.ptr(), &buf, &len);
      return rle_from_string(std::string_view(buf, static_cast<size_t>(len)), static_cast<uint32_t>(h),
                             static_cast<uint32_t>(w));
    }
    if (py::isinstance<py::str>(counts))
      return rle_from_string(counts.cast<std::string>(), static_cast<uint32_t>(h), static_cast<uint32_t>(w));
    std::vector<long long> raw = counts.cast<std::vector<long long>>();
    std::vector<uint32_t> c(raw.size());
    for (size_t i = 0; i < raw.size(); ++i) {
      if (raw[i] < 0 || raw[i] > UINT32_MAX)
        throw std::invalid_argument("count " + std::to_string(i) + " = " + std::to_string(raw[i]) +
                                    " is negative or too large");
      c[i] = static_cast<uint32_t>(raw[i]);
    }
    return rle_from_counts(c, static_cast<uint32_t>(h), static_cast<uint32_t>(w));
  } catch (const std::invalid_argument& e) {
    throw py::value_error(what + ": " + e.what());
  } catch (const py::cast_error&) {
    throw py::value_error(what + ": 'counts' must be a string, bytes or a list of integers");
  }
}

std::vector<Rle> list_to_rles(const py::handle& objs, const char* fn) {
  if (py::isinstance<py::dict>(objs)) return {dict_to_rle(objs, std::string(fn) + ": rle")};
  std::vector<Rle> out;
  size_t i = 0;
  for (const py::handle& o : objs) out.push_back(dict_to_rle(o, std::string(fn) + ": rle " + std::to_string(i++)));
  return out;
}

py::list rles_to_list(const std::vector<Rle>& rles) {
  py::list out;
  for (const auto& r : rles) out.append(rle_to_dict(r));
  return out;
}

std::vector<double> as_doubles(const py::handle& obj, const std::string& what) {
  try {
    py::array_t<double, py::array::c_style | py::array::forcecast> a =
        py::array_t<double, py::array::c_style | py::array::forcecast>::ensure(obj);
    if (!a) throw py::cast_error();
    return std::vector<double>(a.data(), a.data() + a.size());
  } catch (const py::error_already_set&) {
    throw py::value_error(what + ": expected a sequence of numbers");
  } catch (const py::cast_error&) {
    throw py::value_error(what + ": expected a sequence of numbers");
  }
}

KaggleRleOptions kaggle_opts(bool one_indexed, bool column_major) {
  KaggleRleOptions o;
  o.one_indexed = one_indexed;
  o.column_major = column_major;
  return o;
}

// A new (h, w, n) Fortran-ordered uint8 array.
py::array_t<uint8_t> new_fortran_masks(uint32_t h, uint32_t w, size_t n) {
  std::vector<ssize_t> shape{static_cast<ssize_t>(h), static_cast<ssize_t>(w), static_cast<ssize_t>(n)};
  std::vector<ssize_t> strides{1, static_cast<ssize_t>(h), static_cast<ssize_t>(h) * static_cast<ssize_t>(w)};
  return py::array_t<uint8_t>(shape, strides);
}

py::array_t<double> iou_matrix(size_t m, size_t n) {
  return py::array_t<double>(std::vector<ssize_t>{static_cast<ssize_t>(m), static_cast<ssize_t>(n)});
}

}  // namespace

void init_codecs(py::module_& m) {
  m.def("set_threads", &mrcnn::core::set_pool_threads, py::arg("n"));
  m.def("get_threads", &mrcnn::core::pool_threads);

  m.def("encode", [](const py::handle& masks) {
    Masks ms = as_masks(masks, "encode");
    std::vector<Rle> rles(ms.n);
    {
      py::gil_scoped_release nogil;
      mrcnn::core::parallel_for(ms.n, 4, [&](size_t b, size_t e) {
        for (size_t i = b; i < e; ++i) rles[i] = rle_encode(ms.view(i));
      });
    }
    return rles_to_list(rles);
  }, py::arg("masks"), "RLE dicts of the masks of an HxW or HxWxN uint8/bool array, any order");

  m.def("decode", [](const py::handle& objs) {
    std::vector<Rle> rles = list_to_rles(objs, "decode");
    if (rles.empty()) return py::array_t<uint8_t>(std::vector<ssize_t>{0, 0, 0});
    for (size_t i = 1; i < rles.size(); ++i)
      if (rles[i].h != rles[0].h || rles[i].w != rles[0].w)
        throw py::value_error("decode: rle " + std::to_string(i) + " has size " + std::to_string(rles[i].h) +
                              "x" + std::to_string(rles[i].w) + " but rle 0 has " + std::to_string(rles[0].h) +
                              "x" + std::to_string(rles[0].w));
    auto out = new_fortran_masks(rles[0].h, rles[0].w, rles.size());
    uint8_t* base = out.mutable_data();
    const size_t plane = static_cast<size_t>(rles[0].h) * rles[0].w;
    {
      py::gil_scoped_release nogil;
      mrcnn::core::parallel_for(rles.size(), 4, [&](size_t b, size_t e) {
        for (size_t i = b; i < e; ++i)
          rle_decode(rles[i], base + i * plane, 1, static_cast<std::ptrdiff_t>(rles[i].h));
      });
    }
    return out;
  }, py::arg("rles"), "(h, w, n) Fortran-ordered uint8 masks of a list of RLE dicts");

  m.def("area", [](const py::handle& objs) {
    std::vector<Rle> rles = list_to_rles(objs, "area");
    py::array_t<uint32_t> out(static_cast<ssize_t>(rles.size()));
    for (size_t i = 0; i < rles.size(); ++i) out.mutable_data()[i] = static_cast<uint32_t>(rle_area(rles[i]));
    return out;
  }, py::arg("rles"));

  m.def("to_bbox", [](const py::handle& objs) {
    std::vector<Rle> rles = list_to_rles(objs, "toBbox");
    py::array_t<double> out(std::vector<ssize_t>{static_cast<ssize_t>(rles.size()), 4});
    for (size_t i = 0; i < rles.size(); ++i) {
      const auto b = rle_to_bbox(rles[i]);
      std::copy(b.begin(), b.end(), out.mutable_data() + 4 * i);
    }
    return out;
  }, py::arg("rles"), "[n, 4] boxes (x, y, width, height)");

  m.def("merge", [](const py::handle& objs, bool intersect) {
    std::vector<Rle> rles = list_to_rles(objs, "merge");
    std::vector<const Rle*> ptrs;
    for (const auto& r : rles) ptrs.push_back(&r);
    try {
      return rle_to_dict(rle_merge(ptrs, intersect));
    } catch (const std::invalid_argument& e) {
      throw py::value_error(e.what());
    }
  }, py::arg("rles"), py::arg("intersect") = false);

  m.def("iou_rle", [](const py::handle& dt_objs, const py::handle& gt_objs, std::vector<uint8_t> iscrowd) {
    std::vector<Rle> dt = list_to_rles(dt_objs, "iou: dt");
    std::vector<Rle> gt = list_to_rles(gt_objs, "iou: gt");
    if (!iscrowd.empty() && iscrowd.size() != gt.size())
      throw py::value_error("iou: iscrowd has " + std::to_string(iscrowd.size()) + " entries but there are " +
                            std::to_string(gt.size()) + " ground truths");
    auto out = iou_matrix(dt.size(), gt.size());
    double* o = out.mutable_data();
    {
      py::gil_scoped_release nogil;
      const size_t n = gt.size();
      const uint8_t* crowd = iscrowd.empty() ? nullptr : iscrowd.data();
      mrcnn::core::parallel_for(dt.size(), 16, [&](size_t b, size_t e) {
        rle_iou(dt.data() + b, e - b, gt.data(), n, crowd, o + b * n);
      });
    }
    return out;
  }, py::arg("dt"), py::arg("gt"), py::arg("iscrowd"));

  m.def("iou_bbox", [](py::array_t<double, py::array::c_style | py::array::forcecast> dt,
                       py::array_t<double, py::array::c_style | py::array::forcecast> gt,
                       std::vector<uint8_t> iscrowd) {
    if (dt.ndim() != 2 || dt.shape(1) != 4 || gt.ndim() != 2 || gt.shape(1) != 4)
      throw py::value_error("iou: boxes must have shape [N, 4] (x, y, width, height)");
    const size_t m = static_cast<size_t>(dt.shape(0)), n = static_cast<size_t>(gt.shape(0));
    if (!iscrowd.empty() && iscrowd.size() != n)
      throw py::value_error("iou: iscrowd has " + std::to_string(iscrowd.size()) + " entries but there are " +
                            std::to_string(n) + " ground truths");
    auto out = iou_matrix(m, n);
    bbox_iou(dt.data(), m, gt.data(), n, iscrowd.empty() ? nullptr : iscrowd.data(), out.mutable_data());
    return out;
  }, py::arg("dt"), py::arg("gt"), py::arg("iscrowd"));

  m.def("fr_bbox", [](py::array_t<double, py::array::c_style | py::array::forcecast> boxes, uint32_t h, uint32_t w) {
    if (boxes.ndim() == 1 && boxes.shape(0) == 4) boxes = boxes.reshape({1, 4});
    if (boxes.ndim() != 2 || boxes.shape(1) != 4)
      throw py::value_error("frBbox: boxes must have shape [N, 4] (x, y, width, height)");
    std::vector<Rle> rles(static_cast<size_t>(boxes.shape(0)));
    for (size_t i = 0; i < rles.size(); ++i) {
      const double* b = boxes.data() + 4 * i;
      try {
        rles[i] = rle_from_bbox({b[0], b[1], b[2], b[3]}, h, w);
      } catch (const std::invalid_argument& e) {
        throw py::value_error("frBbox: box " + std::to_string(i) + ": " + e.what());
      }
    }
    return rles_to_list(rles);
  }, py::arg("boxes"), py::arg("h"), py::arg("w"));

  m.def("fr_poly", [](const py::handle& polys, uint32_t h, uint32_t w) {
    std::vector<std::vector<double>> xy;
    size_t i = 0;
    for (const py::handle& p : polys) {
      const std::string what = "frPoly: polygon " + std::to_string(i++);
      xy.push_back(as_doubles(p, what));
      if (xy.back().size() % 2 != 0)
        throw py::value_error(what + ": odd number of coordinates (" + std::to_string(xy.back().size()) + ")");
    }
    std::vector<Rle> rles(xy.size());
    {
      py::gil_scoped_release nogil;
      mrcnn::core::parallel_for(xy.size(), 64, [&](size_t b, size_t e) {
        for (size_t j = b; j < e; ++j) {
          try {
            rles[j] = rle_from_polygon(xy[j].data(), xy[j].size() / 2, h, w);
          } catch (const std::invalid_argument& err) {
            throw std::invalid_argument("frPoly: polygon " + std::to_string(j) + ": " + err.what());
          }
        }
      });
    }
    return rles_to_list(rles);
  }, py::arg("polygons"), py::arg("h"), py::arg("w"), "One RLE dict per polygon [x0, y0, x1, y1, ...]");

  m.def("fr_counts", [](const py::handle& objs, uint32_t h, uint32_t w) {
    // COCO "uncompressed RLE": {'size': [h, w], 'counts': [run lengths]}.
    py::list out;
    size_t i = 0;
    for (const py::handle& o : objs) out.append(rle_to_dict(dict_to_rle(o, "frUncompressedRLE: rle " + std::to_string(i++))));
    return out;
  }, py::arg("rles"), py::arg("h"), py::arg("w"));

  m.def("kaggle_to_rle", [](const std::string& s, uint32_t h, uint32_t w, bool one_indexed, bool column_major) {
    Rle r;
    {
      py::gil_scoped_release nogil;
      r = kaggle_rle_to_rle(s, h, w, kaggle_opts(one_indexed, column_major));
    }
    return rle_to_dict(r);
  }, py::arg("s"), py::arg("h"), py::arg("w"), py::arg("one_indexed") = true, py::arg("column_major") = true);

  m.def("kaggle_decode", [](const std::vector<std::string>& strings, uint32_t h, uint32_t w, bool one_indexed,
                            bool column_major) {
    auto out = new_fortran_masks(h, w, strings.size());
    uint8_t* base = out.mutable_data();
    const size_t plane = static_cast<size_t>(h) * w;
    {
      py::gil_scoped_release nogil;
      const auto opt = kaggle_opts(one_indexed, column_major);
      mrcnn::core::parallel_for(strings.size(), 4, [&](size_t b, size_t e) {
        for (size_t i = b; i < e; ++i) {
          try {
            rle_decode(kaggle_rle_to_rle(strings[i], h, w, opt), base + i * plane, 1, static_cast<std::ptrdiff_t>(h));
          } catch (const std::invalid_argument& err) {
            throw std::invalid_argument("string " + std::to_string(i) + ": " + err.what());
          }
        }
      });
    }
    return out;
  }, py::arg("strings"), py::arg("h"), py::arg("w"), py::arg("one_indexed") = true, py::arg("column_major") = true);

  m.def("kaggle_encode", [](const py::handle& masks, bool one_indexed, bool column_major) {
    Masks ms = as_masks(masks, "kaggle_encode");
    std::vector<std::string> out(ms.n);
    {
      py::gil_scoped_release nogil;
      const auto opt = kaggle_opts(one_indexed, column_major);
      mrcnn::core::parallel_for(ms.n, 4, [&](size_t b, size_t e) {
        for (size_t i = b; i < e; ++i) out[i] = kaggle_rle_encode(ms.view(i), opt);
      });
    }
    return out;
  }, py::arg("masks"), py::arg("one_indexed") = true, py::arg("column_major") = true);

  m.def("rle_to_kaggle", [](const py::handle& obj, bool one_indexed, bool column_major) {
    return rle_to_kaggle_rle(dict_to_rle(obj, "rle_to_kaggle"), kaggle_opts(one_indexed, column_major));
  }, py::arg("rle"), py::arg("one_indexed") = true, py::arg("column_major") = true);

  m.def("via_shape", [](const py::dict& a, uint32_t h, uint32_t w) {
    ViaShape s;
    if (!a.contains("name")) throw py::value_error("VIA shape_attributes has no 'name'");
    s.name = py::str(a["name"]);
    auto num = [&](const char* key, double& dst) {
      if (a.contains(key)) dst = a[key].cast<double>();
      else throw py::value_error("VIA " + s.name + " shape has no '" + key + "'");
    };
    try {
      if (s.name == "polygon" || s.name == "polyline") {
        if (!a.contains("all_points_x") || !a.contains("all_points_y"))
          throw py::value_error("VIA " + s.name + " shape needs all_points_x and all_points_y");
        s.xs = as_doubles(a["all_points_x"], "VIA all_points_x");
        s.ys = as_doubles(a["all_points_y"], "VIA all_points_y");
      } else if (s.name == "rect") {
        num("x", s.x); num("y", s.y); num("width", s.width); num("height", s.height);
      } else if (s.name == "circle") {
        num("cx", s.cx); num("cy", s.cy); num("r", s.r);
      } else if (s.name == "ellipse") {
        num("cx", s.cx); num("cy", s.cy); num("rx", s.rx); num("ry", s.ry);
        if (a.contains("theta")) s.theta = a["theta"].cast<double>();
      } else if (s.name == "point") {
        num("cx", s.cx); num("cy", s.cy);
      }
    } catch (const py::cast_error&) {
      throw py::value_error("VIA " + s.name + " shape has a non-numeric attribute");
    }
    return rle_to_dict(rle_from_via_shape(s, h, w));
  }, py::arg("shape_attributes"), py::arg("h"), py::arg("w"));

  m.def("mask_to_polygons", [](const py::handle& mask, double tolerance) {
    Masks ms = as_masks(mask, "mask_to_polygons");
    if (ms.arr.ndim() != 2) throw py::value_error("mask_to_polygons: expected one HxW mask");
    std::vector<std::vector<double>> polys;
    {
      py::gil_scoped_release nogil;
      polys = mask_to_polygons(ms.view(0), tolerance);
    }
    return polys;
  }, py::arg("mask"), py::arg("tolerance") = 0.0);
}
