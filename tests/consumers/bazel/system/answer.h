// The consumer's own repository named "system" (gcrt's is @gcrt_system).
#pragma once

inline int TheAnswer() { return 42; }
