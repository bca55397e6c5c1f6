// The encoder f(x) (docs/vdm.md#encoder): pixel value x in {0..255} to the
// centre of its bin in (-1, 1), f(x) = 2 (x + 0.5) / 256 - 1. z_0 lives in this space.
#pragma once
#include <cstdint>

#include "tensor/tensor.h"

namespace vdm {

inline double encode_pixel(int value) { return 2.0 * (value + 0.5) / 256.0 - 1.0; }

// pixels: count = shape.numel() bytes -> f(x) of that shape in dtype.
Tensor encode(const uint8_t* pixels, const Shape& shape, DType dtype);
// The same pixels as an I32 index tensor (the decoder's targets).
Tensor pixel_indices(const uint8_t* pixels, const Shape& shape);

}  // namespace vdm
