// safetensors reader and writer: round trips for every stored dtype, the file layout the
// safetensors library expects, and one test per kind of corrupt file.
#include "io/safetensors.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>

#include "core/check.h"
#include "support/test_support.h"

namespace loom {
namespace {

using test::error_of;
using test::expect_contains;

namespace fs = std::filesystem;



void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

// A file with the given header text followed by data_bytes zero bytes.
std::string raw_file(const std::string& header, size_t data_bytes) {
  const uint64_t n = header.size();
  std::string bytes(reinterpret_cast<const char*>(&n), 8);
  return bytes + header + std::string(data_bytes, '\0');
}

class SafetensorsTest : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = test::scratch_dir("safetensors"); }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const std::string& name) const { return dir_ + "/" + name; }

  // Writes a raw file and returns the error loading it raises.
  std::string load_error(const std::string& header, size_t data_bytes) {
    const std::string p = path("bad.safetensors");
    write_bytes(p, raw_file(header, data_bytes));
    return error_of([&] { SafetensorsFile file(p); });
  }

  std::string dir_;
};

TEST_F(SafetensorsTest, RoundTripEveryStoredDtype) {
  const std::vector<float> a = test::random_vector(3 * 5, 1, -3.0f, 3.0f);
  const std::vector<float> b = test::random_vector(7, 2, -100.0f, 100.0f);
  const std::vector<float> c = test::random_vector(2 * 2 * 3, 3);
  SafetensorsWriter writer;
  writer.add_f32("a.f32", {3, 5}, a.data(), DType::F32);
  writer.add_f32("b.bf16", {7}, b.data(), DType::BF16);
  writer.add_f32("c.f16", {2, 2, 3}, c.data(), DType::F16);
  writer.set_metadata("format", "pt");
  EXPECT_EQ(writer.data_bytes(), 15u * 4 + 7 * 2 + 12 * 2);
  writer.write(path("m.safetensors"));
  EXPECT_FALSE(fs::exists(path("m.safetensors.tmp")));

  SafetensorsFile file(path("m.safetensors"));
  ASSERT_EQ(file.tensors().size(), 3u);
  EXPECT_EQ(file.metadata().at("format"), "pt");
  ASSERT_NE(file.find("b.bf16"), nullptr);
  EXPECT_EQ(file.find("b.bf16")->dtype, DType::BF16);
  EXPECT_EQ(file.find("c.f16")->shape, (std::vector<int64_t>{2, 2, 3}));
  EXPECT_EQ(file.find("missing"), nullptr);

  std::vector<float> out_a(a.size()), out_b(b.size()), out_c(c.size());
  file.read_f32("a.f32", {3, 5}, out_a.data());
  file.read_f32("b.bf16", {7}, out_b.data());
  file.read_f32("c.f16", {2, 2, 3}, out_c.data());
  EXPECT_EQ(out_a, a);
  for (size_t i = 0; i < b.size(); ++i) EXPECT_EQ(out_b[i], bf16_to_f32(f32_to_bf16(b[i]))) << i;
  for (size_t i = 0; i < c.size(); ++i) EXPECT_EQ(out_c[i], f16_to_f32(f32_to_f16(c[i]))) << i;
  EXPECT_LE(test::max_abs_diff(out_b.data(), b.data(), b.size()), 100.0 / 256);
  EXPECT_LE(test::max_abs_diff(out_c.data(), c.data(), c.size()), 1.0 / 2048);
}

TEST_F(SafetensorsTest, Bf16RoundsToNearestEven) {
  // 1 + 2^-8 lies halfway between bf16 1.0 (even) and 1 + 2^-7 (odd): rounds down.
  // 1 + 3 * 2^-8 lies halfway between 1 + 2^-7 (odd) and 1 + 2^-6 (even): rounds up.
  // 1 + 2^-8 + 2^-20 is just above halfway: rounds up.
  const std::vector<float> values = {1.0f + 0x1p-8f, 1.0f + 3 * 0x1p-8f, 1.0f + 0x1p-8f + 0x1p-20f};
  const uint16_t expected_bits[] = {0x3f80, 0x3f82, 0x3f81};
  SafetensorsWriter writer;
  writer.add_f32("x", {3}, values.data(), DType::BF16);
  writer.write(path("r.safetensors"));
  SafetensorsFile file(path("r.safetensors"));
  const std::byte* raw = file.data(*file.find("x"));
  for (int i = 0; i < 3; ++i) {
    uint16_t bits;
    std::memcpy(&bits, raw + 2 * i, 2);
    EXPECT_EQ(bits, expected_bits[i]) << i;
  }
}

// A tensor with no elements reads into no buffer at all (UBSan once stopped on memcpy(nullptr,
// src, 0) here: tests/fuzz/corpus/safetensors/empty-f32-tensor-memcpy-null.safetensors).
TEST_F(SafetensorsTest, EmptyTensorReadsIntoANullBuffer) {
  const float unused = 0.0f;
  SafetensorsWriter writer;
  writer.add_f32("empty", {0, 4}, &unused, DType::F32);
  writer.write(path("e.safetensors"));
  SafetensorsFile file(path("e.safetensors"));
  EXPECT_NO_THROW(file.read_f32("empty", {0, 4}, nullptr));
}

TEST_F(SafetensorsTest, LayoutMatchesTheSafetensorsLibrary) {
  const std::vector<float> v(6, 0.5f);
  SafetensorsWriter writer;
  writer.add_f32("z.bf16", {2, 3}, v.data(), DType::BF16);
  writer.add_f32("a.bf16", {3}, v.data(), DType::BF16);
  writer.add_f32("m.f32", {2}, v.data(), DType::F32);
  writer.write(path("l.safetensors"));

  std::ifstream in(path("l.safetensors"), std::ios::binary);
  uint64_t header_bytes = 0;
  in.read(reinterpret_cast<char*>(&header_bytes), 8);
  std::string header(header_bytes, '\0');
  in.read(header.data(), static_cast<std::streamsize>(header_bytes));
  EXPECT_EQ(header_bytes % 8, 0u) << "header padded to a multiple of 8";
  EXPECT_EQ(header.front(), '{');

  SafetensorsFile file(path("l.safetensors"));
  EXPECT_EQ(file.find("m.f32")->begin, 0u);  // widest dtype first, then by name
  EXPECT_EQ(file.find("a.bf16")->begin, 8u);
  EXPECT_EQ(file.find("z.bf16")->begin, 14u);
  EXPECT_EQ(file.find("z.bf16")->end, 26u);
}

TEST_F(SafetensorsTest, ScalarAndEmptyTensors) {
  const float scalar = 42.0f;
  SafetensorsWriter writer;
  writer.add_f32("scalar", {}, &scalar, DType::F32);
  writer.add_f32("empty", {0, 4}, nullptr, DType::BF16);
  writer.write(path("s.safetensors"));
  SafetensorsFile file(path("s.safetensors"));
  float out = 0;
  file.read_f32("scalar", {}, &out);
  EXPECT_EQ(out, 42.0f);
  EXPECT_EQ(file.find("empty")->elements(), 0);
  EXPECT_EQ(file.find("empty")->begin, file.find("empty")->end);
}

TEST_F(SafetensorsTest, ReadsEveryIntegerDtypeHeaderButNotAsFloat) {
  const char* header =
      R"({"i32":{"dtype":"I32","shape":[2],"data_offsets":[0,8]},)"
      R"("i64":{"dtype":"I64","shape":[1],"data_offsets":[8,16]},)"
      R"("u8":{"dtype":"U8","shape":[3],"data_offsets":[16,19]},)"
      R"("i8":{"dtype":"I8","shape":[1],"data_offsets":[19,20]}})";
  write_bytes(path("ints.safetensors"), raw_file(header, 20));
  SafetensorsFile file(path("ints.safetensors"));
  EXPECT_EQ(file.find("i64")->dtype, DType::I64);
  EXPECT_EQ(file.find("u8")->dtype, DType::U8);
  EXPECT_EQ(file.find("i8")->dtype, DType::I8);
  float out[2];
  const std::string message = error_of([&] { file.read_f32("i32", {2}, out); });
  expect_contains(message, path("ints.safetensors") + ": tensor 'i32' has dtype I32");
}

TEST_F(SafetensorsTest, WriterFailsOnUnwritableDirectory) {
  write_bytes(path("plain-file"), "x");
  const std::string target = path("plain-file") + "/m.safetensors";
  SafetensorsWriter writer;
  const float v = 1.0f;
  writer.add_f32("x", {1}, &v, DType::F32);
  const std::string message = error_of([&] { writer.write(target); });
  expect_contains(message, target + ": cannot create file");
}

TEST_F(SafetensorsTest, WriterRefusesDuplicateNames) {
  const float v = 1.0f;
  SafetensorsWriter writer;
  writer.add_f32("x", {1}, &v, DType::F32);
  writer.add_f32("x", {1}, &v, DType::BF16);
  expect_contains(error_of([&] { writer.write(path("d.safetensors")); }), "tensor 'x' is written twice");
}

TEST_F(SafetensorsTest, TruncatedFile) {
  write_bytes(path("short.safetensors"), "abcde");
  const std::string message = error_of([&] { SafetensorsFile file(path("short.safetensors")); });
  expect_contains(message, path("short.safetensors") + ": file is 5 bytes, too short");
}

TEST_F(SafetensorsTest, MissingFile) {
  expect_contains(error_of([&] { SafetensorsFile file(path("nope.safetensors")); }),
                  path("nope.safetensors") + ": cannot open");
}

TEST_F(SafetensorsTest, HeaderLengthBeyondFile) {
  std::string bytes = raw_file("{}", 110);
  const uint64_t n = 99999;
  std::memcpy(bytes.data(), &n, 8);
  write_bytes(path("m.safetensors"), bytes);
  const std::string message = error_of([&] { SafetensorsFile file(path("m.safetensors")); });
  EXPECT_EQ(message, path("m.safetensors") + ": header length 99999 exceeds file size 120");
}

TEST_F(SafetensorsTest, HeaderLengthBeyondCap) {
  const std::string p = path("huge.safetensors");
  const uint64_t n = 200'000'000;
  write_bytes(p, std::string(reinterpret_cast<const char*>(&n), 8));
  fs::resize_file(p, n + 8);  // sparse: no disk space used
  expect_contains(error_of([&] { SafetensorsFile file(p); }), p + ": header length 200000000 exceeds the limit");
}

TEST_F(SafetensorsTest, HeaderNotJson) {
  const std::string message = load_error("{\"x\": [1, 2", 0);
  expect_contains(message, path("bad.safetensors") + ": header is not valid JSON");
}

TEST_F(SafetensorsTest, HeaderNotAnObject) {
  expect_contains(load_error("[1, 2, 3]", 0), path("bad.safetensors") + ": header is not a JSON object");
}

TEST_F(SafetensorsTest, UnknownDtype) {
  const std::string message = load_error(R"({"x":{"dtype":"Q7","shape":[2],"data_offsets":[0,2]}})", 2);
  EXPECT_EQ(message, path("bad.safetensors") + ": tensor 'x' has unknown dtype 'Q7'");
}

TEST_F(SafetensorsTest, ShapeTimesDtypeDiffersFromByteCount) {
  const std::string message = load_error(R"({"x":{"dtype":"F32","shape":[4,4],"data_offsets":[0,60]}})", 64);
  EXPECT_EQ(message, path("bad.safetensors") + ": tensor 'x' shape [4, 4] x F32 needs 64 bytes but data_offsets span 60");
}

TEST_F(SafetensorsTest, NegativeShape) {
  const std::string message = load_error(R"({"x":{"dtype":"F32","shape":[-1,4],"data_offsets":[0,16]}})", 16);
  expect_contains(message, path("bad.safetensors") + ": tensor 'x' has shape [-1,4], which is not a list of non-negative");
}

TEST_F(SafetensorsTest, ShapeProductOverflows) {
  const std::string message = load_error(
      R"({"x":{"dtype":"F32","shape":[4611686018427387904,4611686018427387904],"data_offsets":[0,16]}})", 16);
  expect_contains(message, path("bad.safetensors") + ": tensor 'x' shape [4611686018427387904, 4611686018427387904] is too large");
}

TEST_F(SafetensorsTest, OffsetsOutsideTheFile) {
  const std::string message = load_error(R"({"x":{"dtype":"F32","shape":[16],"data_offsets":[0,64]}})", 32);
  EXPECT_EQ(message, path("bad.safetensors") + ": tensor 'x' data_offsets [0, 64] lie outside the 32-byte data section");
}

TEST_F(SafetensorsTest, OffsetsEndBeforeBegin) {
  const std::string message = load_error(R"({"x":{"dtype":"F32","shape":[0],"data_offsets":[8,4]}})", 8);
  expect_contains(message, path("bad.safetensors") + ": tensor 'x' data_offsets [8, 4] end before they begin");
}

TEST_F(SafetensorsTest, OverlappingTensors) {
  const std::string message = load_error(R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},)"
                                         R"("b":{"dtype":"F32","shape":[4],"data_offsets":[8,24]}})",
                                         24);
  EXPECT_EQ(message, path("bad.safetensors") + ": tensors 'a' and 'b' overlap in the data section");
}

TEST_F(SafetensorsTest, MetadataMustMapStringsToStrings) {
  const std::string message = load_error(R"({"__metadata__":{"format":1}})", 0);
  expect_contains(message, path("bad.safetensors") + ": __metadata__ value of 'format' is not a string");
}

TEST_F(SafetensorsTest, ShapeMismatchAndMissingTensorOnRead) {
  const std::vector<float> v(6, 1.0f);
  SafetensorsWriter writer;
  writer.add_f32("w", {2, 3}, v.data(), DType::F32);
  writer.write(path("w.safetensors"));
  SafetensorsFile file(path("w.safetensors"));
  std::vector<float> out(6);
  EXPECT_EQ(error_of([&] { file.read_f32("w", {3, 2}, out.data(), "config.json"); }),
            path("w.safetensors") + ": tensor 'w' has shape [2, 3], expected [3, 2] (from config.json)");
  EXPECT_EQ(error_of([&] { file.read_f32("v", {2, 3}, out.data()); }),
            path("w.safetensors") + ": tensor 'v' is missing");
}

}  // namespace
}  // namespace loom
