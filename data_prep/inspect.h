// `loom-prep inspect PATH`: a manifest's or a shard's description, and one record decoded.
#pragma once

namespace loom::prep {

int run_inspect(int argc, char** argv);

}  // namespace loom::prep
