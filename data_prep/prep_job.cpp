#include "prep_job.h"

#include <omp.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>

#include "core/check.h"
#include "data/manifest.h"
#include "data/md5.h"
#include "data/packing.h"
#include "data/permutation.h"
#include "data/records.h"
#include "data/shard_writer.h"
#include "data/templates.h"
#include "data/tokenizer.h"
#include "data/trl_formats.h"
#include "input_files.h"
#include "input_records.h"
#include "io/atomic_file.h"
#include "io/json_file.h"
#include "record_transfer.h"

namespace loom::prep {

using data::ShardKind;
using data::SftLayout;
namespace fs = std::filesystem;

namespace {

// Every rank calls this at the same point; if any rank failed, all throw the first failure in
// rank order, so every rank stops at the same place with the same message.
void agree(const dist::Comm& comm, const std::string& my_failure) {
  std::vector<uint8_t> first;
  const auto all = comm.gather_to_root(std::vector<uint8_t>(my_failure.begin(), my_failure.end()));
  for (const auto& failure : all)
    if (!failure.empty()) {
      first = failure;
      break;
    }
  comm.broadcast(&first, 0);
  if (!first.empty()) throw Error(std::string(first.begin(), first.end()));
}

// Runs a rank-local step, then agrees on whether every rank got through it.
template <typename Body>
void step(const dist::Comm& comm, Body&& body) {
  std::string failure;
  try {
    body();
  } catch (const std::exception& e) {
    failure = e.what();
    if (failure.empty()) failure = "unknown failure";
  }
  agree(comm, failure);
}

std::vector<uint8_t> to_bytes(const std::vector<int64_t>& values) {
  std::vector<uint8_t> bytes(values.size() * sizeof(int64_t));
  if (!values.empty()) std::memcpy(bytes.data(), values.data(), bytes.size());
  return bytes;
}

std::vector<int64_t> from_bytes(const std::vector<uint8_t>& bytes) {
  std::vector<int64_t> values(bytes.size() / sizeof(int64_t));
  if (!values.empty()) std::memcpy(values.data(), bytes.data(), bytes.size());
  return values;
}

// A record this rank read, before it is numbered.
struct ReadRecord {
  int32_t file = 0;
  int64_t index = 0;  // from 0, in the file, or in this rank's byte range of it (read_by_range)
  int64_t line = 0;   // its first line, counted the same way
  std::string text;
};

// Rank r of W keeps the records of a gzip file whose index is r modulo W: of n, ceil((n - r) / W).
bool keeps_gzip_record(int64_t index, int rank, int world) { return index % world == rank; }
int64_t gzip_records_kept(int64_t records, int rank, int world) { return (records - rank + world - 1) / world; }

// Whether a file's ranks each read the records that start in their share of its bytes (a plain
// file of lines or paragraphs); else each reads it whole (gzip) or one rank does (text unit file).
bool read_by_range(const InputFile& file) {
  return !file.gzip && (file.json_lines || file.text_unit != TextUnit::file);
}
bool read_by_one_rank(const InputFile& file) { return !file.json_lines && file.text_unit == TextUnit::file; }

struct Split {
  std::string name;
  int64_t order_begin = 0;            // the split's first position in the record order
  std::vector<int64_t> rank_starts;   // (W + 1) rank r holds the split's records [rank_starts[r], rank_starts[r + 1])
  std::vector<PlacedRecord> records;  // this rank's range of the split's order
  data::ShardCounts counts;
  data::ShardRows rows;
  int64_t tail_tokens_dropped = 0;
  std::string temp_path, final_path;
};

class PrepJob {
 public:
  PrepJob(const PrepOptions& options, const dist::Comm& comm) : o_(options), comm_(comm) {}
  PrepSummary run();

 private:
  void set_up();
  int reader_of_file(size_t f) const;
  void read_my_records();
  void number_and_assign();
  void tokenize_read();
  void exchange_records();
  void resolve_bad_records();
  void build_rows();
  void require_rows();
  void pack_split(Split& split);
  void write_shards();
  void write_manifest();
  void remove_outputs();

  // Which split a position of the record order is in, which rank holds it, and its slot there.
  struct Place {
    size_t split = 0;
    int rank = 0;
    int64_t slot = 0;
  };
  Place place_of(int64_t position) const;

  std::unique_ptr<data::ChatTemplate> load_chat_template() const;
  data::TokenizedRecord parse_and_tokenize(std::string_view raw, const InputFile& file,
                                           const data::RecordLimits& limits) const;

  const PrepOptions& o_;
  const dist::Comm& comm_;
  std::unique_ptr<data::Tokenizer> tokenizer_;
  std::optional<data::Template> template_;      // every template but trl
  std::unique_ptr<data::ChatTemplate> chat_;    // trl: the chat template, when there is one
  std::vector<InputFile> files_;
  std::vector<int64_t> file_first_record_;  // global number of each file's first record; back() = total
  std::vector<int64_t> lines_in_range_;     // read_by_range files: the lines that start in this rank's range
  std::vector<ReadRecord> read_;            // the records this rank read, in file and record order
  std::vector<PlacedRecord> placed_;        // the same records, numbered, then tokenized
  data::ShardInfo info_;
  std::vector<Split> splits_;
  std::vector<std::string> written_;  // files this rank created
};

void PrepJob::set_up() {
  step(comm_, [&] {
    files_ = expand_inputs(o_.inputs, o_.format, o_.text_unit.value_or(TextUnit::line));
    LOOM_REQUIRE(!o_.text_unit || std::any_of(files_.begin(), files_.end(), [](const InputFile& f) { return !f.json_lines; }),
                 "--text-unit: applies to text inputs (.txt, .txt.gz or --format text), and every input is JSON Lines");
    if (o_.template_spec == "trl") {
      chat_ = load_chat_template();
      for (const auto& f : files_) LOOM_REQUIRE(f.json_lines, f.path, ": --template trl reads JSON Lines, not text");
    } else {
      template_.emplace(o_.template_spec, o_.text_field, o_.rejected_field);
      for (const auto& f : files_)
        LOOM_REQUIRE(f.json_lines || template_->reads_text_lines(), f.path, ": plain text input needs --template text");
      LOOM_REQUIRE(o_.kind != ShardKind::prompts || template_->has_prompt(), "--template ", o_.template_spec,
                   ": has no prompt part, which prompts need");
    }
    tokenizer_ = std::make_unique<data::Tokenizer>(o_.tokenizer);
    if (comm_.rank == 0) {
      std::error_code ec;
      fs::create_directories(o_.out_dir, ec);
      LOOM_REQUIRE(fs::is_directory(o_.out_dir), o_.out_dir, ": cannot create output directory (",
                   ec ? ec.message() : "not a directory", ")");
      const std::string probe = (fs::path(o_.out_dir) / ".loom-prep-probe").string();
      {
        std::ofstream test(probe);
        LOOM_REQUIRE(test && (test << "probe") && test.flush(), o_.out_dir, ": output directory is not writable");
      }
      fs::remove(probe);
      // A manifest from an earlier run would point at shards this run replaces.
      fs::remove(fs::path(o_.out_dir) / data::kManifestFile, ec);
    }
  });
  info_.kind = o_.kind;
  info_.layout = o_.layout;
  info_.row_len = o_.row_len;
  info_.tokenizer_md5 = tokenizer_->model_md5();
  info_.tokenizer_path = tokenizer_->model_path();
  info_.vocab_size = tokenizer_->vocab_size();
  info_.bos_id = tokenizer_->bos_id();
  info_.eos_id = tokenizer_->eos_id();
  info_.pad_id = tokenizer_->padding_id();
  info_.template_name = o_.template_spec;
  info_.seed = o_.seed;
  for (const auto& f : files_) info_.source_files.push_back(f.path);
}

// A file read whole by one rank goes to the rank whose share of all inputs' bytes holds its first byte.
int PrepJob::reader_of_file(size_t f) const {
  int64_t before = 0, total = 0;
  for (size_t g = 0; g < files_.size(); ++g) {
    if (g < f) before += files_[g].size;
    total += files_[g].size;
  }
  return total == 0 ? 0 : static_cast<int>(before * comm_.world / total);
}

// Plain files of lines or paragraphs by byte range: each rank reads the records whose first
// line starts in its 1/W of the file's bytes. Gzip files by record: every rank decompresses the
// whole file and keeps every W-th record. Text files that are one record: one rank reads each.
void PrepJob::read_my_records() {
  lines_in_range_.assign(files_.size(), 0);
  step(comm_, [&] {
    for (size_t f = 0; f < files_.size(); ++f) {
      const InputFile& file = files_[f];
      auto keep = [&](int64_t index, int64_t line, std::string_view text) {
        read_.push_back({static_cast<int32_t>(f), index, line, std::string(text)});
      };
      if (read_by_one_rank(file)) {
        if (reader_of_file(f) == comm_.rank) for_each_record(file, keep);
      } else if (file.gzip) {
        for_each_record(file, [&](int64_t index, int64_t line, std::string_view text) {
          if (keeps_gzip_record(index, comm_.rank, comm_.world)) keep(index, line, text);
        });
      } else {
        lines_in_range_[f] = for_each_record_starting_in(file, file.size * comm_.rank / comm_.world,
                                                         file.size * (comm_.rank + 1) / comm_.world, keep);
      }
    }
  });
}

// Numbers the records over all ranks (a plain file's records in rank order), shuffles the
// record order and places each record this rank read in it.
void PrepJob::number_and_assign() {
  const size_t n_files = files_.size();
  std::vector<int64_t> mine(3 * n_files, 0);  // records read from each file, its lines_in_range_, its size
  for (const ReadRecord& record : read_) ++mine[static_cast<size_t>(record.file)];
  for (size_t f = 0; f < n_files; ++f) {
    mine[n_files + f] = lines_in_range_[f];
    mine[2 * n_files + f] = files_[f].size;
  }
  std::vector<std::vector<int64_t>> all;  // [rank] its `mine`
  for (const std::vector<uint8_t>& bytes : comm_.allgather(to_bytes(mine))) all.push_back(from_bytes(bytes));
  // A read_by_range file's records and lines on lower ranks.
  std::vector<int64_t> records(n_files, 0), first_index(n_files, 0), first_line(n_files, 0);
  for (int r = 0; r < comm_.world; ++r) {
    const std::vector<int64_t>& theirs = all[static_cast<size_t>(r)];
    for (size_t f = 0; f < n_files; ++f) {
      // Byte ranges tile a file only when every rank saw the same size.
      const int64_t size = theirs[2 * n_files + f], size_0 = all[0][2 * n_files + f];
      LOOM_REQUIRE(size == size_0, files_[f].path, ": changed while being read (", size_0, " bytes on rank 0, ", size,
                   " on rank ", r, ")");
      records[f] += theirs[f];
      if (r < comm_.rank && read_by_range(files_[f])) {
        first_index[f] += theirs[f];
        first_line[f] += theirs[n_files + f];
      }
    }
  }
  // The ranks' shares of a gzip file's records cover it only when every rank saw as many records.
  for (int r = 0; r < comm_.world; ++r)
    for (size_t f = 0; f < n_files; ++f)
      LOOM_REQUIRE(!files_[f].gzip || read_by_one_rank(files_[f]) ||
                       all[static_cast<size_t>(r)][f] == gzip_records_kept(records[f], r, comm_.world),
                   files_[f].path, ": changed while being read (rank ", r, " kept ", all[static_cast<size_t>(r)][f],
                   " of ", records[f], " records)");
  file_first_record_.assign(1, 0);
  for (int64_t n : records) file_first_record_.push_back(file_first_record_.back() + n);
  const int64_t total = file_first_record_.back();

  const int64_t eval_count = static_cast<int64_t>(static_cast<double>(total) * o_.eval_fraction + 0.5);
  struct Range { const char* name; int64_t begin, end; };
  const Range ranges[2] = {{"train", eval_count, total}, {"eval", 0, eval_count}};
  for (const Range& range : ranges) {
    if (range.end == range.begin && std::string(range.name) == "eval") continue;
    Split& split = splits_.emplace_back();
    split.name = range.name;
    split.order_begin = range.begin;
    const int64_t n = range.end - range.begin;
    for (int r = 0; r <= comm_.world; ++r) split.rank_starts.push_back(n * r / comm_.world);
    split.records.resize(static_cast<size_t>(split.rank_starts[comm_.rank + 1] - split.rank_starts[comm_.rank]));
  }

  std::vector<int64_t> position_of(static_cast<size_t>(total));  // record number -> position in the order
  {
    const std::vector<int64_t> order = data::shuffled_order(total, o_.seed, data::kRecordOrderStream);
    for (size_t p = 0; p < order.size(); ++p) position_of[static_cast<size_t>(order[p])] = static_cast<int64_t>(p);
  }
  placed_.resize(read_.size());
  for (size_t i = 0; i < read_.size(); ++i) {
    const size_t f = static_cast<size_t>(read_[i].file);
    const int64_t index = first_index[f] + read_[i].index;  // 0-based, in the file
    placed_[i].file = read_[i].file;
    placed_[i].line = first_line[f] + read_[i].line + 1;
    placed_[i].position = position_of[static_cast<size_t>(file_first_record_[f] + index)];
  }
}

PrepJob::Place PrepJob::place_of(int64_t position) const {
  size_t s = 0;
  while (s < splits_.size() && !(position >= splits_[s].order_begin &&
                                 position < splits_[s].order_begin + splits_[s].rank_starts.back()))
    ++s;
  LOOM_ASSERT(s < splits_.size());
  const std::vector<int64_t>& starts = splits_[s].rank_starts;
  const int64_t index = position - splits_[s].order_begin;
  // The last rank whose range starts at or before index (ranges of ranks with no records are empty).
  const int rank = static_cast<int>(std::upper_bound(starts.begin(), starts.end(), index) - starts.begin()) - 1;
  return {s, rank, index - starts[static_cast<size_t>(rank)]};
}

// --chat-template, else the --model folder or the tokenizer's folder when it holds a chat template, else none (then
// conversational records are refused one by one).
std::unique_ptr<data::ChatTemplate> PrepJob::load_chat_template() const {
  if (!o_.chat_template.empty()) return std::make_unique<data::ChatTemplate>(data::ChatTemplate::load(o_.chat_template));
  const fs::path given(o_.tokenizer);  // a tokenizer file, or the --model folder
  const fs::path folder = fs::is_directory(given)          ? given
                          : given.parent_path().empty() ? fs::path(".")
                                                        : given.parent_path();
  const fs::path config = folder / "tokenizer_config.json";
  bool has_template = fs::is_regular_file(folder / "chat_template.jinja");
  if (!has_template && fs::is_regular_file(config)) {
    const nlohmann::json object = parse_json_object(read_text_file(config.string()), config.string());
    has_template = object.contains("chat_template") && !object["chat_template"].is_null();
  }
  if (!has_template) return nullptr;
  return std::make_unique<data::ChatTemplate>(data::ChatTemplate::load(folder.string()));
}

// Parse, apply the template and tokenize; nothing here throws for bad data.
data::TokenizedRecord PrepJob::parse_and_tokenize(std::string_view raw, const InputFile& file,
                                                  const data::RecordLimits& limits) const {
  auto reject = [](data::RecordError error) {
    data::TokenizedRecord r;
    r.status = data::TokenizedRecord::Status::rejected;
    r.error = std::move(error);
    return r;
  };
  auto invalid = [&](std::string message) { return reject({data::RecordError::Reason::invalid, std::move(message)}); };
  const size_t bad_byte = first_invalid_utf8(raw);
  if (bad_byte != std::string_view::npos) return invalid(cat("invalid UTF-8 byte at column ", bad_byte + 1));
  if (raw.empty() && file.json_lines) return invalid("empty line, expected a JSON object");
  data::Example example;
  data::RecordError error;
  if (!template_) {  // trl: records with lists of messages need the general parser
    nlohmann::ordered_json record;
    try {
      record = nlohmann::ordered_json::parse(raw);
    } catch (const nlohmann::json::parse_error& e) {
      return invalid(cat("malformed JSON at column ", e.byte));
    }
    const data::TrlOptions trl{o_.kind, o_.loss_on, chat_.get()};
    if (!data::apply_trl_format(record, trl, &example, &error)) return reject(error);
  } else if (file.json_lines) {
    data::FlatJsonObject object;
    size_t column = 0;
    if (!object.parse(raw, &column)) return invalid(cat("malformed JSON at column ", column));
    if (!template_->apply(object, limits.kind == ShardKind::pairs, &example, &error)) return reject(error);
    example.loss_on = o_.loss_on.value_or(data::LossOn::completion);
  } else {
    example = template_->apply_text(raw);
    example.loss_on = o_.loss_on.value_or(data::LossOn::completion);
  }
  return data::tokenize_record(example, *tokenizer_, limits);
}

void PrepJob::tokenize_read() {
  const data::RecordLimits limits{o_.kind, o_.layout, o_.row_len};
  step(comm_, [&] {
    const int64_t n = static_cast<int64_t>(read_.size());
    std::string failure;
#pragma omp parallel for schedule(dynamic, 16) num_threads(o_.threads)
    for (int64_t i = 0; i < n; ++i) {
      try {
        placed_[i].tokens = parse_and_tokenize(read_[i].text, files_[read_[i].file], limits);
      } catch (const std::exception& e) {
#pragma omp critical
        if (failure.empty()) failure = e.what();
      }
      std::string().swap(read_[i].text);
    }
    if (!failure.empty()) throw Error(failure);
  });
  std::vector<ReadRecord>().swap(read_);
}

// Each record goes to the rank that holds its position, into its slot there; the records this
// rank holds itself stay in memory, the others travel as bytes.
void PrepJob::exchange_records() {
  size_t settled = 0;
  auto settle = [&](PlacedRecord&& record) {
    const Place place = place_of(record.position);
    LOOM_ASSERT(place.rank == comm_.rank);
    splits_[place.split].records[static_cast<size_t>(place.slot)] = std::move(record);
    ++settled;
  };
  std::vector<std::vector<uint8_t>> to_ranks(static_cast<size_t>(comm_.world));
  for (PlacedRecord& record : placed_) {
    const int rank = place_of(record.position).rank;
    if (rank == comm_.rank) {
      settle(std::move(record));
    } else {
      append_record_bytes(&to_ranks[static_cast<size_t>(rank)], record);
      record.tokens = data::TokenizedRecord();
    }
  }
  std::vector<PlacedRecord>().swap(placed_);
  for (const std::vector<uint8_t>& bytes : comm_.alltoallv(std::move(to_ranks)))
    for (PlacedRecord& record : records_from_bytes(bytes)) settle(std::move(record));
  size_t expected = 0;
  for (const Split& split : splits_) expected += split.records.size();
  LOOM_ASSERT(settled == expected);
}

void PrepJob::resolve_bad_records() {
  step(comm_, [&] {
    for (Split& split : splits_) {
      for (const PlacedRecord& record : split.records) {
        using Status = data::TokenizedRecord::Status;
        if (record.tokens.status == Status::identical) ++split.counts.dropped_identical;
        if (record.tokens.status != Status::rejected) continue;
        const data::RecordError& error = record.tokens.error;
        LOOM_REQUIRE(o_.skip_bad_records, files_[record.file].path, ":", record.line, ": ", error.message,
                     " (--on-error skip drops such records",
                     error.reason == data::RecordError::Reason::too_long && o_.kind == ShardKind::sft
                         ? "; --layout packed cuts long documents into blocks)"
                         : ")");
        if (error.reason == data::RecordError::Reason::empty) ++split.counts.dropped_empty;
        if (error.reason == data::RecordError::Reason::too_long) ++split.counts.dropped_too_long;
        if (error.reason == data::RecordError::Reason::invalid) ++split.counts.dropped_invalid;
      }
    }
  });
}

void PrepJob::pack_split(Split& split) {
  using Status = data::TokenizedRecord::Status;
  int64_t kept_documents = 0;
  for (const PlacedRecord& r : split.records) kept_documents += r.tokens.status == Status::ok;
  // Global document and token offsets of this rank: exclusive scans over ranks.
  int64_t local_tokens = 0;
  for (const PlacedRecord& r : split.records)
    if (r.tokens.status == Status::ok) local_tokens += static_cast<int64_t>(r.tokens.tokens.size()) + 1;
  const auto sizes = comm_.allgather(to_bytes({kept_documents, local_tokens}));
  int64_t doc_start = 0, token_start = 0, total_tokens = 0;
  for (int r = 0; r < comm_.world; ++r) {
    const std::vector<int64_t> v = from_bytes(sizes[static_cast<size_t>(r)]);
    if (r < comm_.rank) {
      doc_start += v[0];
      token_start += v[1];
    }
    total_tokens += v[1];
  }
  data::PackedStream local;
  local.tokens.reserve(static_cast<size_t>(local_tokens));
  local.doc.reserve(static_cast<size_t>(local_tokens));
  int64_t doc = doc_start;
  for (const PlacedRecord& r : split.records)
    if (r.tokens.status == Status::ok) local.append_document(r.tokens.tokens, info_.eos_id, doc++);
  // The heads (L - 1 tokens) of every rank; this rank's blocks may run into the following ones.
  const size_t head_len = static_cast<size_t>(o_.row_len - 1);
  const data::PackedStream head = local.head(head_len);
  std::vector<int64_t> head_words(head.tokens.begin(), head.tokens.end());
  head_words.insert(head_words.end(), head.doc.begin(), head.doc.end());
  const auto heads = comm_.allgather(to_bytes(head_words));
  data::PackedStream following;
  for (int r = comm_.rank + 1; r < comm_.world && following.tokens.size() < head_len; ++r) {
    const std::vector<int64_t> words = from_bytes(heads[static_cast<size_t>(r)]);
    const size_t n = words.size() / 2;
    for (size_t i = 0; i < n; ++i) {
      following.tokens.push_back(static_cast<int32_t>(words[i]));
      following.doc.push_back(words[n + i]);
    }
  }
  data::PackedBlocks blocks = data::cut_blocks(local, token_start, following, o_.row_len);
  split.rows.rows = blocks.rows;
  split.rows.tokens = std::move(blocks.tokens);
  if (o_.layout == SftLayout::packed_docs) split.rows.doc_index = std::move(blocks.doc_index);
  split.counts.records = split.rows.rows;
  split.counts.documents = kept_documents;
  split.counts.tokens = split.rows.rows * o_.row_len;
  split.tail_tokens_dropped = total_tokens % o_.row_len;
}

void PrepJob::build_rows() {
  for (Split& split : splits_) {
    if (o_.kind == ShardKind::sft && o_.layout != SftLayout::padded) {
      pack_split(split);
      continue;
    }
    for (const PlacedRecord& r : split.records) {
      if (r.tokens.status != data::TokenizedRecord::Status::ok) continue;
      split.rows.append_record(r.tokens, info_, r.file, r.line);
      split.counts.tokens += static_cast<int64_t>(r.tokens.tokens.size() + r.tokens.rejected.size());
      split.counts.truncated += r.tokens.truncated;
    }
    split.counts.records = split.rows.rows;
    split.counts.documents = split.rows.rows;
  }
}

// A split with no rows is an error before anything is written: a later stage would read nothing.
void PrepJob::require_rows() {
  for (const Split& split : splits_) {
    const data::ShardCounts& c = split.counts;
    std::vector<int64_t> totals{c.records, c.documents};  // and tail_tokens_dropped: the same on every rank
    comm_.allreduce_sum(totals.data(), totals.size());
    if (totals[0] > 0) continue;
    std::string inputs;
    for (size_t f = 0; f < files_.size() && f < 3; ++f) inputs += (f ? ", " : "") + files_[f].path;
    if (files_.size() > 3) inputs += cat(" and ", files_.size() - 3, " more");
    const int64_t read = split.rank_starts.back();
    const bool any_text = std::any_of(files_.begin(), files_.end(), [](const InputFile& f) { return !f.json_lines; });
    std::string why;
    if (read == 0)
      why = any_text ? "no records (a text file's blank lines make none)" : "no records";
    else if (totals[1] == 0)
      why = cat("all ", read, " records were dropped (bad, or identical pairs)");
    else
      why = cat("its ", totals[1], " documents make ", split.tail_tokens_dropped, " tokens, fewer than one block of --seq-len ",
                o_.row_len);
    LOOM_FAIL(inputs, ": nothing to write to the ", split.name, " split: ", why);
  }
}

void PrepJob::write_shards() {
  char name[96];
  for (Split& split : splits_) {
    std::snprintf(name, sizeof(name), "%s-%05d-of-%05d.h5", split.name.c_str(), comm_.rank, comm_.world);
    split.final_path = (fs::path(o_.out_dir) / name).string();
    split.temp_path = (fs::path(o_.out_dir) / cat(".", name, ".tmp")).string();
  }
  step(comm_, [&] {
    for (Split& split : splits_) {
      written_.push_back(split.temp_path);
      data::write_shard_file(split.temp_path, info_, split.name, comm_.rank, split.counts, split.rows);
      split.rows = data::ShardRows();
    }
  });
  step(comm_, [&] {
    for (Split& split : splits_) {
      std::error_code ec;
      fs::rename(split.temp_path, split.final_path, ec);
      LOOM_REQUIRE(!ec, split.final_path, ": cannot rename shard into place (", ec.message(), ")");
      written_.push_back(split.final_path);
    }
  });
}

void PrepJob::write_manifest() {
  std::vector<int64_t> mine;
  for (const Split& split : splits_) {
    const data::ShardCounts& c = split.counts;
    mine.insert(mine.end(), {c.records, c.documents, c.tokens, c.dropped_invalid, c.dropped_empty, c.dropped_too_long,
                             c.dropped_identical, c.truncated, split.tail_tokens_dropped});
  }
  const auto all = comm_.gather_to_root(to_bytes(mine));
  // Each rank hashes the shards it wrote; the manifest records them for the readers to check.
  std::string my_md5s;
  step(comm_, [&] {
    for (const Split& split : splits_) my_md5s += data::md5_file_hex(split.final_path);
  });
  const auto md5s = comm_.gather_to_root(std::vector<uint8_t>(my_md5s.begin(), my_md5s.end()));
  step(comm_, [&] {
    if (comm_.rank != 0) return;
    data::Manifest manifest;
    manifest.info = info_;
    for (size_t s = 0; s < splits_.size(); ++s) {
      data::ManifestSplit entry;
      entry.name = splits_[s].name;
      for (int r = 0; r < comm_.world; ++r) {
        const std::vector<int64_t> v = from_bytes(all[static_cast<size_t>(r)]);
        const int64_t* c = v.data() + s * 9;
        char name[96];
        std::snprintf(name, sizeof(name), "%s-%05d-of-%05d.h5", entry.name.c_str(), r, comm_.world);
        data::ShardCounts counts{c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]};
        const std::vector<uint8_t>& rank_md5s = md5s[static_cast<size_t>(r)];
        const std::string md5(rank_md5s.begin() + long(s * 32), rank_md5s.begin() + long(s * 32 + 32));
        entry.shards.push_back({name, counts, md5});
        entry.totals.add(counts);
        entry.tail_tokens_dropped = c[8];  // the same on every rank
      }
      manifest.splits.push_back(std::move(entry));
    }
    write_file_atomically((fs::path(o_.out_dir) / data::kManifestFile).string(), data::manifest_to_json(manifest));
  });
}

void PrepJob::remove_outputs() {
  std::error_code ec;
  for (const std::string& path : written_) fs::remove(path, ec);
}

PrepSummary PrepJob::run() {
  const auto started = std::chrono::steady_clock::now();
  try {
    set_up();
    read_my_records();
    number_and_assign();
    tokenize_read();
    exchange_records();
    resolve_bad_records();
    build_rows();
    require_rows();
    write_shards();
    write_manifest();
  } catch (...) {
    remove_outputs();
    throw;
  }
  PrepSummary summary;
  for (const auto& f : files_) summary.input_bytes += f.size;
  summary.records = file_first_record_.back();
  std::vector<int64_t> tokens{0};
  for (const Split& split : splits_) tokens[0] += split.counts.tokens;
  comm_.allreduce_sum(tokens.data(), 1);
  summary.tokens = tokens[0];
  summary.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return summary;
}

}  // namespace

PrepSummary run_prep(const PrepOptions& options, const dist::Comm& comm) { return PrepJob(options, comm).run(); }

}  // namespace loom::prep
