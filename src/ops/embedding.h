// Token embedding lookup (the table is frozen: no backward).
#pragma once

namespace loom::cpu {

// out (N, C) = wte[tokens[n]]; wte (V, C); tokens must be in [0, V).
void embedding_forward(float* out, const int* tokens, const float* wte, int N, int C, int V);

}  // namespace loom::cpu
