// loom bench --peak --memory: how fast this machine streams buffers of each size. Every pass
// between a step's GEMMs (a rounding, a norm, a gradient added into) is bound by it, and so is
// a GEMM writing its f32 output to memory no recent pass touched.
#pragma once

namespace loom::cli {

// Prints one line per buffer size, 1 MiB to 512 MiB (doubling): the GB/s (bytes read plus
// bytes written) of a read-modify-write pass over f32 on the OpenMP team, best of three.
void print_memory_bandwidth();

}  // namespace loom::cli
