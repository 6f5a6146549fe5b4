#include "trace/trace-hw_pvdma.h"
