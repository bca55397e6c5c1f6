// Pixels to model space.
#include "vdm/encoder.h"

#include "tensor/dispatch.h"

namespace vdm {

Tensor encode(const uint8_t* pixels, const Shape& shape, DType dtype) {
    Tensor x = Tensor::empty(shape, dtype);
    VDM_DISPATCH_FLOAT(dtype, "encode", {
        T* out = x.data<T>();
        for (int64_t i = 0; i < x.numel(); ++i) out[i] = T(encode_pixel(pixels[i]));
    });
    return x;
}

Tensor pixel_indices(const uint8_t* pixels, const Shape& shape) {
    Tensor index = Tensor::empty(shape, DType::I32);
    int32_t* out = index.data<int32_t>();
    for (int64_t i = 0; i < index.numel(); ++i) out[i] = pixels[i];
    return index;
}

}  // namespace vdm
