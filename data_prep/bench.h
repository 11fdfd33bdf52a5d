// `loom-prep bench`: builds an input of at least --mb megabytes by repeating a JSON Lines file
// (in a scratch folder, removed afterwards), runs `loom-prep sft` (packed) under mpirun with 1
// and 2 ranks and the Python baseline (data_prep/bench_baseline.py: sentencepiece + h5py, the
// same packing), and prints tokens/s and MB/s of each, with the commands it ran.
#pragma once

namespace loom::prep {

int run_bench(int argc, char** argv);

}  // namespace loom::prep
