// One run of `loom-prep sft|pairs|prompts` over the ranks of a Comm.
//
// Records are numbered by (file, line) over all inputs; a seeded shuffle of those numbers is
// the record order, its first part the eval split and the rest the train split. Each rank reads
// and tokenizes its part of the inputs (the lines starting in its 1/W of each plain file's bytes,
// every W-th line of each gzip file), then sends every record to the rank that holds its position:
// each rank holds a contiguous range of each split's order and writes one shard per split, so
// the manifest's shards, read in order, give the same records whatever the number of ranks.
// Shards are written under temporary names and renamed once every rank has succeeded;
// rank 0 writes manifest.json last. On any failure every rank removes what it wrote.
#pragma once

#include "dist/comm.h"
#include "options.h"

namespace loom::prep {

struct PrepSummary {
  int64_t input_bytes = 0, records = 0, tokens = 0;
  double seconds = 0.0;
};

// Throws loom::Error (the same message on every rank) when the job fails.
PrepSummary run_prep(const PrepOptions& options, const dist::Comm& comm);

}  // namespace loom::prep
