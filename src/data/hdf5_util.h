// HDF5 calls with file:line errors, owning handles, and the few typed helpers shards need.
// HDF5's own error printing is silenced; the innermost message of its error stack (for
// example "File too large" or "No space left on device") is carried in loom's error instead.
#pragma once

#include <hdf5.h>

#include <cstdint>
#include <string>
#include <vector>

#include "core/check.h"

namespace loom::data {

// The innermost HDF5 error message of the current thread's stack ("" when empty).
std::string hdf5_error_detail();
// Silences HDF5's automatic error printing (called by every helper below).
void hdf5_quiet();

}  // namespace loom::data

#define LOOM_H5_CHECK(call)                                                                          \
  ([&]() {                                                                                           \
    const auto loom_h5_result_ = (call);                                                             \
    if (loom_h5_result_ < 0)                                                                         \
      ::loom::fail_at(__FILE__, __LINE__, ::loom::cat(#call, " failed: ", ::loom::data::hdf5_error_detail())); \
    return loom_h5_result_;                                                                          \
  }())

namespace loom::data {

// An hid_t closed by the matching H5*close when it goes out of scope.
class H5Handle {
 public:
  using Closer = herr_t (*)(hid_t);
  H5Handle() = default;
  H5Handle(hid_t id, Closer closer) : id_(id), closer_(closer) {}
  ~H5Handle() { reset(); }
  H5Handle(H5Handle&& other) noexcept : id_(other.id_), closer_(other.closer_) { other.id_ = -1; }
  H5Handle& operator=(H5Handle&& other) noexcept {
    if (this != &other) {
      reset();
      id_ = other.id_;
      closer_ = other.closer_;
      other.id_ = -1;
    }
    return *this;
  }
  H5Handle(const H5Handle&) = delete;
  H5Handle& operator=(const H5Handle&) = delete;
  hid_t id() const { return id_; }
  explicit operator bool() const { return id_ >= 0; }
  // Closes now and reports failure (a close flushes, so a full disk can show up here).
  void close(const std::string& what);
  void reset() {
    if (id_ >= 0 && closer_) closer_(id_);
    id_ = -1;
  }

 private:
  hid_t id_ = -1;
  Closer closer_ = nullptr;
};

// Files: `path` in messages.
H5Handle h5_create_file(const std::string& path);
H5Handle h5_open_file_read(const std::string& path);
H5Handle h5_open_dataset(hid_t file, const std::string& name, const std::string& path);
bool h5_has_attribute(hid_t object, const std::string& name);

// Attributes on a file's root group (scalars, strings, string lists).
void h5_write_attr_int(hid_t object, const std::string& name, int64_t value);
void h5_write_attr_string(hid_t object, const std::string& name, const std::string& value);
void h5_write_attr_strings(hid_t object, const std::string& name, const std::vector<std::string>& values);
int64_t h5_read_attr_int(hid_t object, const std::string& name, const std::string& path);
std::string h5_read_attr_string(hid_t object, const std::string& name, const std::string& path);
std::vector<std::string> h5_read_attr_strings(hid_t object, const std::string& name, const std::string& path);

}  // namespace loom::data
