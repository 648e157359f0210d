// The consumer's @system repository, which gcrt's dependencies must not
// replace: its header is the consumer's own.
#include "answer.h"

int main() { return TheAnswer() == 42 ? 0 : 1; }
