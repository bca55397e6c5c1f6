// How good are a model's samples? A classifier's view (docs/vdm.md#sample-quality-a-classifier-frechet-distance):
//   - the Fréchet distance between Gaussians fitted to the classifier's features of
//     N samples and of N test images (a "classifier FID"),
//       FD = |mu1 - mu2|^2 + tr(S1 + S2 - 2 (S1^{1/2} S2 S1^{1/2})^{1/2});
//   - the share of samples the classifier puts in one class with probability >= 0.9;
//   - their standard errors from a seeded bootstrap over the images.
// Everything here is double on the host, with the symmetric eigensolver (Jacobi
// rotations) that the matrix square roots need. The features come from
// nn/classifier.h; this file does not know where they came from.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace vdm {

// A dense row-major matrix of doubles: n feature rows (n, d), or a (d, d) covariance.
struct Matrix {
    int64_t rows = 0, cols = 0;
    std::vector<double> data;

    Matrix() = default;
    Matrix(int64_t rows, int64_t cols);  // zeros
    Matrix(int64_t rows, int64_t cols, std::vector<double> values);  // rows * cols values
    double& operator()(int64_t i, int64_t j) { return data[size_t(i * cols + j)]; }
    double operator()(int64_t i, int64_t j) const { return data[size_t(i * cols + j)]; }
};

Matrix multiply(const Matrix& a, const Matrix& b);          // (n, k) (k, m) -> (n, m)
Matrix select_rows(const Matrix& a, const std::vector<int64_t>& rows);
double trace(const Matrix& a);

// A = V diag(values) V^T for a symmetric A: values ascending, the eigenvectors the
// columns of V (left empty when not asked for). Cyclic Jacobi rotations, each
// zeroing one off-diagonal pair, until every off-diagonal element is zero in double.
struct SymmetricEigen {
    std::vector<double> values;
    Matrix vectors;
};
SymmetricEigen symmetric_eigen(const Matrix& a, bool with_vectors = true);

// Negative eigenvalues that a positive semidefinite matrix shows only through
// round-off, set to 0 before a square root is taken: how many, and the most negative
// relative to the largest eigenvalue. Beyond -1e-9 of it the matrix is not PSD: an error.
struct Clamped {
    int64_t count = 0;
    double worst_relative = 0.0;
    void add(const Clamped& other);
};

// The symmetric square root V diag(sqrt(max(values, 0))) V^T of a PSD matrix.
Matrix psd_sqrt(const Matrix& a, Clamped* clamped = nullptr);
// tr(A^{1/2}) = sum of sqrt(max(values, 0)): needs the eigenvalues only.
double trace_psd_sqrt(const Matrix& a, Clamped* clamped = nullptr);

// Mean and unbiased covariance (divided by n - 1) of the rows of x (n >= 2).
struct Gaussian {
    std::vector<double> mean;
    Matrix covariance;
};
Gaussian fit_gaussian(const Matrix& x);

// The Fréchet (2-Wasserstein squared) distance between two Gaussians, as above.
double frechet_distance(const Gaussian& a, const Gaussian& b, Clamped* clamped = nullptr);

// The share of rows of class probabilities (n, classes) whose largest is >= threshold.
double confident_share(const Matrix& probabilities, double threshold = 0.9);

// The random streams of a score with seed s: which test images (when not the first N),
// and the bootstrap resamples.
uint64_t reference_seed(int64_t seed);
uint64_t bootstrap_seed(int64_t seed);

struct SampleQuality {
    double fid = 0.0, fid_stderr = 0.0;
    double confident_share = 0.0, confident_share_stderr = 0.0;
    int64_t n = 0, bootstrap = 0;
    Clamped clamped;  // over every square root taken, bootstrap included
};

// The FD between the samples' and the reference images' features (both (n, d), the
// same n), and the samples' confident share. Standard errors: the standard deviation
// over `bootstrap` (>= 2) resamples, each drawing n sample rows and n reference rows
// with replacement from Rng(bootstrap_seed(seed)). Deterministic for a seed, whatever
// the thread count.
SampleQuality sample_quality(const Matrix& sample_features, const Matrix& sample_probabilities,
                             const Matrix& reference_features, int64_t bootstrap, int64_t seed);

}  // namespace vdm
