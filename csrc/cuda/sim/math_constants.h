// nabi's CUDA host simulator: the constants of the toolkit's math_constants.h that nabi uses.
#pragma once
#include <limits>
#define CUDART_NAN (std::numeric_limits<double>::quiet_NaN())
#define CUDART_NAN_F (std::numeric_limits<float>::quiet_NaN())
#define CUDART_INF (std::numeric_limits<double>::infinity())
#define CUDART_INF_F (std::numeric_limits<float>::infinity())
#define CUDART_PI 3.1415926535897931e+0
#define CUDART_PI_F 3.141592654f
