// minja.hpp includes <json.hpp> (the single-header layout llama.cpp vendors); Debian's
// nlohmann-json3-dev installs the same header as <nlohmann/json.hpp>.
#pragma once
#include <nlohmann/json.hpp>
