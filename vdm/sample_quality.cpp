// The classifier Fréchet distance, the confident share, their bootstrap, and the
// symmetric eigensolver under the matrix square roots.
#include "vdm/sample_quality.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "tensor/error.h"
#include "tensor/rng.h"

namespace vdm {

Matrix::Matrix(int64_t rows_, int64_t cols_)
    : rows(rows_), cols(cols_), data(size_t(rows_ * cols_), 0.0) {}

Matrix::Matrix(int64_t rows_, int64_t cols_, std::vector<double> values)
    : rows(rows_), cols(cols_), data(std::move(values)) {
    VDM_CHECK(int64_t(data.size()) == rows * cols, "Matrix: ", data.size(), " values for ", rows,
              "x", cols);
}

Matrix multiply(const Matrix& a, const Matrix& b) {
    VDM_CHECK(a.cols == b.rows, "multiply: ", a.rows, "x", a.cols, " times ", b.rows, "x", b.cols);
    Matrix c(a.rows, b.cols);
    for (int64_t i = 0; i < a.rows; ++i)
        for (int64_t k = 0; k < a.cols; ++k) {
            const double aik = a(i, k);
            for (int64_t j = 0; j < b.cols; ++j) c(i, j) += aik * b(k, j);
        }
    return c;
}

Matrix select_rows(const Matrix& a, const std::vector<int64_t>& rows) {
    Matrix out(int64_t(rows.size()), a.cols);
    for (size_t r = 0; r < rows.size(); ++r)
        std::copy_n(a.data.begin() + rows[r] * a.cols, a.cols, out.data.begin() + int64_t(r) * a.cols);
    return out;
}

double trace(const Matrix& a) {
    double t = 0.0;
    for (int64_t i = 0; i < std::min(a.rows, a.cols); ++i) t += a(i, i);
    return t;
}

// --- the symmetric eigenproblem by cyclic Jacobi rotations (Golub & Van Loan, Jacobi methods;
// the update in the stable form of Rutishauser). A rotation in the (p, q) plane by
// the angle that zeroes a_pq, with t = tan(angle) the smaller root of
// t^2 + 2 theta t - 1 = 0, theta = (a_qq - a_pp) / (2 a_pq), changes rows and
// columns p and q only: a_pp -= t a_pq, a_qq += t a_pq, a_pq = 0, and for r != p, q
//   a_rp -= s (a_rq + tau a_rp),  a_rq += s (a_rp - tau a_rq),  c = 1/sqrt(1+t^2),
//   s = t c, tau = s / (1 + c).
// Each sweep visits every pair; convergence is quadratic, a handful of sweeps.
SymmetricEigen symmetric_eigen(const Matrix& input, bool with_vectors) {
    VDM_CHECK(input.rows == input.cols, "symmetric_eigen: the matrix is ", input.rows, "x",
              input.cols, ", not square");
    const int64_t n = input.rows;
    double largest = 0.0;
    for (double x : input.data) {
        VDM_CHECK(std::isfinite(x), "symmetric_eigen: the matrix holds a NaN or Inf");
        largest = std::max(largest, std::abs(x));
    }
    for (int64_t i = 0; i < n; ++i)
        for (int64_t j = 0; j < i; ++j)
            VDM_CHECK(std::abs(input(i, j) - input(j, i)) <= 1e-12 * largest,
                      "symmetric_eigen: the matrix is not symmetric (entries (", i, ", ", j,
                      ") and (", j, ", ", i, ") differ)");
    Matrix a = input;
    Matrix v;
    if (with_vectors) {
        v = Matrix(n, n);
        for (int64_t i = 0; i < n; ++i) v(i, i) = 1.0;
    }
    constexpr int kMaxSweeps = 60;
    bool converged = false;
    for (int sweep = 1; sweep <= kMaxSweeps && !converged; ++sweep) {
        converged = true;
        for (int64_t p = 0; p < n; ++p)
            for (int64_t q = p + 1; q < n; ++q) {
                const double apq = a(p, q);
                if (apq == 0.0) continue;
                converged = false;
                const double g = 100.0 * std::abs(apq);
                // After a few sweeps, an a_pq below the last bit of both diagonal
                // entries changes no eigenvalue in double: drop it.
                if (sweep > 4 && std::abs(a(p, p)) + g == std::abs(a(p, p)) &&
                    std::abs(a(q, q)) + g == std::abs(a(q, q))) {
                    a(p, q) = a(q, p) = 0.0;
                    continue;
                }
                const double h = a(q, q) - a(p, p);
                double t;
                if (std::abs(h) + g == std::abs(h)) {
                    t = apq / h;  // theta huge: t = 1 / (2 theta) to double precision
                } else {
                    const double theta = 0.5 * h / apq;
                    t = 1.0 / (std::abs(theta) + std::sqrt(1.0 + theta * theta));
                    if (theta < 0.0) t = -t;
                }
                const double c = 1.0 / std::sqrt(1.0 + t * t), s = t * c, tau = s / (1.0 + c);
                a(p, p) -= t * apq;
                a(q, q) += t * apq;
                a(p, q) = a(q, p) = 0.0;
                for (int64_t r = 0; r < n; ++r) {
                    if (r == p || r == q) continue;
                    const double arp = a(r, p), arq = a(r, q);
                    a(r, p) = a(p, r) = arp - s * (arq + tau * arp);
                    a(r, q) = a(q, r) = arq + s * (arp - tau * arq);
                }
                if (with_vectors)
                    for (int64_t r = 0; r < n; ++r) {
                        const double vrp = v(r, p), vrq = v(r, q);
                        v(r, p) = vrp - s * (vrq + tau * vrp);
                        v(r, q) = vrq + s * (vrp - tau * vrq);
                    }
            }
    }
    VDM_CHECK(converged, "symmetric_eigen: no convergence after ", kMaxSweeps, " sweeps");

    std::vector<int64_t> order(static_cast<size_t>(n));
    std::iota(order.begin(), order.end(), 0);
    std::sort(order.begin(), order.end(), [&](int64_t i, int64_t j) { return a(i, i) < a(j, j); });
    SymmetricEigen e;
    for (int64_t k = 0; k < n; ++k) e.values.push_back(a(order[size_t(k)], order[size_t(k)]));
    if (with_vectors) {
        e.vectors = Matrix(n, n);
        for (int64_t r = 0; r < n; ++r)
            for (int64_t k = 0; k < n; ++k) e.vectors(r, k) = v(r, order[size_t(k)]);
    }
    return e;
}

void Clamped::add(const Clamped& other) {
    count += other.count;
    worst_relative = std::max(worst_relative, other.worst_relative);
}

namespace {

// The eigenvalues with round-off negatives set to 0 (and counted); a clearly
// negative one is an error.
std::vector<double> clamp_negative(std::vector<double> values, Clamped* clamped) {
    double largest = 0.0;
    for (double x : values) largest = std::max(largest, std::abs(x));
    for (double& x : values) {
        if (x >= 0.0) continue;
        const double relative = -x / largest;
        VDM_CHECK(relative <= 1e-9, "psd_sqrt: eigenvalue ", x, " (largest ", largest,
                  ") of a matrix that should be positive semidefinite");
        if (clamped) clamped->add({1, relative});
        x = 0.0;
    }
    return values;
}

// The sample standard deviation (divided by n - 1), in two passes.
double standard_deviation(const std::vector<double>& x) {
    const double mean = std::accumulate(x.begin(), x.end(), 0.0) / double(x.size());
    double sum_sq = 0.0;
    for (double v : x) sum_sq += (v - mean) * (v - mean);
    return std::sqrt(sum_sq / double(x.size() - 1));
}

}  // namespace

Matrix psd_sqrt(const Matrix& a, Clamped* clamped) {
    SymmetricEigen e = symmetric_eigen(a, true);
    const std::vector<double> values = clamp_negative(e.values, clamped);
    const int64_t n = a.rows;
    Matrix scaled = e.vectors;  // V diag(sqrt(values))
    for (int64_t r = 0; r < n; ++r)
        for (int64_t k = 0; k < n; ++k) scaled(r, k) *= std::sqrt(values[size_t(k)]);
    Matrix root(n, n);  // scaled V^T
    for (int64_t i = 0; i < n; ++i)
        for (int64_t j = 0; j <= i; ++j) {
            double sum = 0.0;
            for (int64_t k = 0; k < n; ++k) sum += scaled(i, k) * e.vectors(j, k);
            root(i, j) = root(j, i) = sum;
        }
    return root;
}

double trace_psd_sqrt(const Matrix& a, Clamped* clamped) {
    double sum = 0.0;
    for (double x : clamp_negative(symmetric_eigen(a, false).values, clamped)) sum += std::sqrt(x);
    return sum;
}

Gaussian fit_gaussian(const Matrix& x) {
    VDM_CHECK(x.rows >= 2, "fit_gaussian: need at least 2 rows, got ", x.rows);
    const int64_t n = x.rows, d = x.cols;
    for (int64_t i = 0; i < n; ++i)
        for (int64_t j = 0; j < d; ++j)
            VDM_CHECK(std::isfinite(x(i, j)), "fit_gaussian: row ", i, " holds a NaN or Inf");
    Gaussian g{std::vector<double>(size_t(d), 0.0), Matrix(d, d)};
    for (int64_t i = 0; i < n; ++i)
        for (int64_t j = 0; j < d; ++j) g.mean[size_t(j)] += x(i, j);
    for (double& m : g.mean) m /= double(n);
    std::vector<double> centred(static_cast<size_t>(d));
    for (int64_t i = 0; i < n; ++i) {
        for (int64_t j = 0; j < d; ++j) centred[size_t(j)] = x(i, j) - g.mean[size_t(j)];
        for (int64_t j = 0; j < d; ++j)
            for (int64_t k = 0; k <= j; ++k)
                g.covariance(j, k) += centred[size_t(j)] * centred[size_t(k)];
    }
    for (int64_t j = 0; j < d; ++j)
        for (int64_t k = 0; k <= j; ++k)
            g.covariance(k, j) = g.covariance(j, k) /= double(n - 1);
    return g;
}

double frechet_distance(const Gaussian& a, const Gaussian& b, Clamped* clamped) {
    const int64_t d = int64_t(a.mean.size());
    VDM_CHECK(int64_t(b.mean.size()) == d, "frechet_distance: Gaussians of dimension ", d,
              " and ", b.mean.size());
    double mean_term = 0.0;
    for (int64_t j = 0; j < d; ++j) {
        const double diff = a.mean[size_t(j)] - b.mean[size_t(j)];
        mean_term += diff * diff;
    }
    // tr (S1 S2)^{1/2} = tr (S1^{1/2} S2 S1^{1/2})^{1/2}: the same eigenvalues, and the
    // second form is symmetric PSD, which the Jacobi solver needs.
    const Matrix root = psd_sqrt(a.covariance, clamped);
    Matrix middle = multiply(multiply(root, b.covariance), root);
    for (int64_t i = 0; i < d; ++i)  // exactly symmetric, whatever the round-off
        for (int64_t j = 0; j < i; ++j) middle(i, j) = middle(j, i) = 0.5 * (middle(i, j) + middle(j, i));
    const double fd = mean_term + trace(a.covariance) + trace(b.covariance) -
                      2.0 * trace_psd_sqrt(middle, clamped);
    VDM_CHECK(std::isfinite(fd), "frechet_distance: the distance is not finite");
    return fd;
}

double confident_share(const Matrix& probabilities, double threshold) {
    VDM_CHECK(probabilities.rows > 0, "confident_share: no rows");
    int64_t confident = 0;
    for (int64_t i = 0; i < probabilities.rows; ++i) {
        double best = 0.0;
        for (int64_t k = 0; k < probabilities.cols; ++k) best = std::max(best, probabilities(i, k));
        confident += best >= threshold;
    }
    return double(confident) / double(probabilities.rows);
}

uint64_t reference_seed(int64_t seed) { return uint64_t(seed) * 2 + 1; }
uint64_t bootstrap_seed(int64_t seed) { return uint64_t(seed) * 2 + 2; }

SampleQuality sample_quality(const Matrix& sample_features, const Matrix& sample_probabilities,
                             const Matrix& reference_features, int64_t bootstrap, int64_t seed) {
    const int64_t n = sample_features.rows;
    VDM_CHECK(reference_features.rows == n && sample_probabilities.rows == n,
              "sample_quality: ", n, " samples but ", reference_features.rows,
              " reference images and ", sample_probabilities.rows, " probability rows");
    VDM_CHECK(reference_features.cols == sample_features.cols, "sample_quality: features of ",
              sample_features.cols, " and ", reference_features.cols, " dimensions");
    VDM_CHECK(bootstrap >= 2, "sample_quality: the bootstrap needs at least 2 resamples, got ",
              bootstrap);
    SampleQuality q;
    q.n = n;
    q.bootstrap = bootstrap;
    q.fid = frechet_distance(fit_gaussian(sample_features), fit_gaussian(reference_features),
                             &q.clamped);
    q.confident_share = confident_share(sample_probabilities);

    // Resample k takes positions [2 n k, 2 n (k + 1)) of the stream: n sample rows,
    // then n reference rows, so each resample depends on (seed, k) only.
    std::vector<double> fids, shares;
    for (int64_t k = 0; k < bootstrap; ++k) {
        Rng rng(bootstrap_seed(seed), uint64_t(2 * n * k));
        std::vector<int64_t> samples(static_cast<size_t>(n)), references(static_cast<size_t>(n));
        for (int64_t& i : samples) i = int64_t(rng.below(uint64_t(n)));
        for (int64_t& i : references) i = int64_t(rng.below(uint64_t(n)));
        fids.push_back(frechet_distance(fit_gaussian(select_rows(sample_features, samples)),
                                        fit_gaussian(select_rows(reference_features, references)),
                                        &q.clamped));
        shares.push_back(confident_share(select_rows(sample_probabilities, samples)));
    }
    q.fid_stderr = standard_deviation(fids);
    q.confident_share_stderr = standard_deviation(shares);
    return q;
}

}  // namespace vdm
