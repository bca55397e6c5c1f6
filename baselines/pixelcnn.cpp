// The PixelCNN baseline: masks, network, exact likelihood and the sampler.
#include "baselines/pixelcnn.h"

#include <string>

#include "baselines/pixel_categorical.h"
#include "vdm/encoder.h"

namespace vdm {

MaskedConv2d::MaskedConv2d(int64_t in, int64_t out, int64_t kernel, MaskType type, DType dtype, Rng& rng) {
    VDM_CHECK(kernel % 2 == 1, "MaskedConv2d: kernel ", kernel, " must be odd");
    weight = add_parameter("weight",
                           init_normal(Shape{out, in, kernel, kernel}, in * kernel * kernel, 1.0, dtype, rng));
    bias = add_parameter("bias", Tensor::zeros(Shape{out}, dtype));
    // Raster order inside the kernel: the rows above the centre, the centre row left of
    // the centre, and for type B the centre itself.
    const int64_t centre = kernel / 2;
    std::vector<double> keep(size_t(kernel * kernel), 0.0);
    for (int64_t i = 0; i < kernel; ++i)
        for (int64_t j = 0; j < kernel; ++j) {
            const bool before = i < centre || (i == centre && j < centre);
            const bool at_centre = i == centre && j == centre;
            keep[size_t(i * kernel + j)] = before || (at_centre && type == MaskType::B) ? 1.0 : 0.0;
        }
    mask = Tensor::from_vector(Shape{1, 1, kernel, kernel}, keep, dtype);
}

Var MaskedConv2d::forward(const Var& x) const {
    return conv2d(x, weight * Var(mask.to(weight.device())), bias);
}

PixelCnn::PixelCnn(const PixelCnnConfig& c, DType dtype, Rng& rng)
    : config(c),
      input(1, c.channels, 7, MaskType::A, dtype, rng),
      head1(c.channels, c.channels, 1, dtype, rng),
      head2(c.channels, kPixelValues, 1, dtype, rng) {
    add_child("input", input);
    for (int64_t b = 0; b < c.blocks; ++b) {
        block_masked.push_back(std::make_unique<MaskedConv2d>(c.channels, c.channels, 3, MaskType::B, dtype, rng));
        block_out.push_back(std::make_unique<Conv2d>(c.channels, c.channels, 1, dtype, rng));
        add_child("blocks." + std::to_string(b) + ".masked", *block_masked.back());
        add_child("blocks." + std::to_string(b) + ".out", *block_out.back());
    }
    add_child("head1", head1);
    add_child("head2", head2);
}

Var PixelCnn::logits(const Var& x) const {
    VDM_CHECK(x.ndim() == 4 && x.dim(1) == 1 && x.dim(2) == config.height && x.dim(3) == config.width,
              "PixelCnn: expected (B, 1, ", config.height, ", ", config.width, "), got ", x.shape().str());
    Var h = input.forward(x);
    for (size_t b = 0; b < block_masked.size(); ++b)
        h = h + block_out[b]->forward(silu(block_masked[b]->forward(silu(h))));
    return head2.forward(silu(head1.forward(silu(h))));
}

Var pixelcnn_log_prob(const PixelCnn& model, const uint8_t* pixels, int64_t batch) {
    const Shape shape{batch, 1, model.config.height, model.config.width};
    const DType dtype = model.parameters().front().var.dtype();
    Var x(encode(pixels, shape, dtype).to(model.device()));
    return pixel_log_prob(model.logits(x), pixels);
}

std::vector<uint8_t> pixelcnn_sample(const PixelCnn& model, int64_t n, Rng& rng) {
    NoGradGuard no_grad;
    const int64_t H = model.config.height, W = model.config.width, HW = H * W;
    const DType dtype = model.parameters().front().var.dtype();
    std::vector<uint8_t> images(size_t(n * HW), 0);
    for (int64_t i = 0; i < HW; ++i) {  // pixel i of every image, given pixels < i
        Var x(encode(images.data(), Shape{n, 1, H, W}, dtype).to(model.device()));
        const Tensor logits = model.logits(x).value().to(Device::CPU).to(DType::F64);  // (n, 256, H, W)
        for (int64_t b = 0; b < n; ++b)
            images[size_t(b * HW + i)] =
                draw_pixel(logits.data<double>() + b * kPixelValues * HW + i, HW, rng.uniform());
    }
    return images;
}

}  // namespace vdm
