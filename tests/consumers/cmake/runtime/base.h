// The consumer's own runtime/base.h: gcrt's headers are included as
// gcrt/runtime/base.h, so neither hides the other.
#pragma once

#define CONSUMER_RUNTIME_BASE 1
