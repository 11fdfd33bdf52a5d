#include "data/hdf5_util.h"

#include <algorithm>

namespace loom::data {

void hdf5_quiet() {
  static const bool silenced = [] {
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
    return true;
  }();
  (void)silenced;
}

static herr_t keep_innermost(unsigned n, const H5E_error2_t* error, void* client) {
  if (n == 0 && error->desc) *static_cast<std::string*>(client) = error->desc;
  return 0;
}

std::string hdf5_error_detail() {
  std::string detail;
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, keep_innermost, &detail);
  H5Eclear2(H5E_DEFAULT);
  if (detail.empty()) return "unknown HDF5 error";
  // A failed write's description spans lines; its system error message is the useful part.
  const std::string marker = "error message = '";
  const size_t at = detail.find(marker);
  if (at != std::string::npos) {
    const size_t end = detail.find('\'', at + marker.size());
    return detail.substr(at + marker.size(), end == std::string::npos ? std::string::npos : end - at - marker.size());
  }
  std::replace(detail.begin(), detail.end(), '\n', ' ');
  return detail;
}

void H5Handle::close(const std::string& what) {
  if (id_ < 0) return;
  const herr_t status = closer_(id_);
  id_ = -1;
  LOOM_REQUIRE(status >= 0, what, ": cannot finish writing (", hdf5_error_detail(), ")");
}

H5Handle h5_create_file(const std::string& path) {
  hdf5_quiet();
  const hid_t id = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  LOOM_REQUIRE(id >= 0, path, ": cannot create HDF5 file (", hdf5_error_detail(), ")");
  return H5Handle(id, H5Fclose);
}

H5Handle h5_open_file_read(const std::string& path) {
  hdf5_quiet();
  const hid_t id = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  LOOM_REQUIRE(id >= 0, path, ": cannot open HDF5 file (", hdf5_error_detail(), ")");
  return H5Handle(id, H5Fclose);
}

H5Handle h5_open_dataset(hid_t file, const std::string& name, const std::string& path) {
  hdf5_quiet();
  LOOM_REQUIRE(H5Lexists(file, name.c_str(), H5P_DEFAULT) > 0, path, ": dataset '", name, "' is missing");
  const hid_t id = H5Dopen2(file, name.c_str(), H5P_DEFAULT);
  LOOM_REQUIRE(id >= 0, path, ": cannot open dataset '", name, "' (", hdf5_error_detail(), ")");
  return H5Handle(id, H5Dclose);
}

bool h5_has_attribute(hid_t object, const std::string& name) { return H5Aexists(object, name.c_str()) > 0; }

static H5Handle string_type() {
  H5Handle type(LOOM_H5_CHECK(H5Tcopy(H5T_C_S1)), H5Tclose);
  LOOM_H5_CHECK(H5Tset_size(type.id(), H5T_VARIABLE));
  LOOM_H5_CHECK(H5Tset_cset(type.id(), H5T_CSET_UTF8));
  return type;
}

void h5_write_attr_int(hid_t object, const std::string& name, int64_t value) {
  H5Handle space(LOOM_H5_CHECK(H5Screate(H5S_SCALAR)), H5Sclose);
  H5Handle attr(LOOM_H5_CHECK(H5Acreate2(object, name.c_str(), H5T_STD_I64LE, space.id(), H5P_DEFAULT, H5P_DEFAULT)),
                H5Aclose);
  LOOM_H5_CHECK(H5Awrite(attr.id(), H5T_NATIVE_INT64, &value));
}

void h5_write_attr_string(hid_t object, const std::string& name, const std::string& value) {
  H5Handle type = string_type();
  H5Handle space(LOOM_H5_CHECK(H5Screate(H5S_SCALAR)), H5Sclose);
  H5Handle attr(LOOM_H5_CHECK(H5Acreate2(object, name.c_str(), type.id(), space.id(), H5P_DEFAULT, H5P_DEFAULT)),
                H5Aclose);
  const char* text = value.c_str();
  LOOM_H5_CHECK(H5Awrite(attr.id(), type.id(), &text));
}

void h5_write_attr_strings(hid_t object, const std::string& name, const std::vector<std::string>& values) {
  H5Handle type = string_type();
  const hsize_t count = values.size();
  H5Handle space(LOOM_H5_CHECK(H5Screate_simple(1, &count, nullptr)), H5Sclose);
  H5Handle attr(LOOM_H5_CHECK(H5Acreate2(object, name.c_str(), type.id(), space.id(), H5P_DEFAULT, H5P_DEFAULT)),
                H5Aclose);
  std::vector<const char*> texts;
  for (const auto& v : values) texts.push_back(v.c_str());
  if (!texts.empty()) LOOM_H5_CHECK(H5Awrite(attr.id(), type.id(), texts.data()));
}

static H5Handle open_attribute(hid_t object, const std::string& name, const std::string& path) {
  hdf5_quiet();
  LOOM_REQUIRE(h5_has_attribute(object, name), path, ": attribute '", name, "' is missing");
  const hid_t id = H5Aopen(object, name.c_str(), H5P_DEFAULT);
  LOOM_REQUIRE(id >= 0, path, ": cannot open attribute '", name, "' (", hdf5_error_detail(), ")");
  return H5Handle(id, H5Aclose);
}

int64_t h5_read_attr_int(hid_t object, const std::string& name, const std::string& path) {
  H5Handle attr = open_attribute(object, name, path);
  H5Handle type(LOOM_H5_CHECK(H5Aget_type(attr.id())), H5Tclose);
  LOOM_REQUIRE(H5Tget_class(type.id()) == H5T_INTEGER, path, ": attribute '", name, "' must be an integer");
  int64_t value = 0;
  LOOM_REQUIRE(H5Aread(attr.id(), H5T_NATIVE_INT64, &value) >= 0, path, ": cannot read attribute '", name, "'");
  return value;
}

std::vector<std::string> h5_read_attr_strings(hid_t object, const std::string& name, const std::string& path) {
  H5Handle attr = open_attribute(object, name, path);
  H5Handle stored(LOOM_H5_CHECK(H5Aget_type(attr.id())), H5Tclose);
  LOOM_REQUIRE(H5Tget_class(stored.id()) == H5T_STRING && H5Tis_variable_str(stored.id()) > 0, path,
               ": attribute '", name, "' must be a variable-length string");
  H5Handle space(LOOM_H5_CHECK(H5Aget_space(attr.id())), H5Sclose);
  const hssize_t count = H5Sget_simple_extent_npoints(space.id());
  std::vector<char*> texts(static_cast<size_t>(count), nullptr);
  H5Handle type = string_type();
  std::vector<std::string> values;
  if (count == 0) return values;
  LOOM_REQUIRE(H5Aread(attr.id(), type.id(), texts.data()) >= 0, path, ": cannot read attribute '", name, "'");
  for (char* t : texts) values.emplace_back(t ? t : "");
  H5Dvlen_reclaim(type.id(), space.id(), H5P_DEFAULT, texts.data());
  return values;
}

std::string h5_read_attr_string(hid_t object, const std::string& name, const std::string& path) {
  std::vector<std::string> values = h5_read_attr_strings(object, name, path);
  LOOM_REQUIRE(values.size() == 1, path, ": attribute '", name, "' must be one string");
  return values[0];
}

}  // namespace loom::data
