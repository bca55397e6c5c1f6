// The sample-quality measure (vdm/sample_quality.h) and its classifier
// (nn/classifier.h): the Jacobi eigensolver on random and known spectra, the PSD
// square root, the Fréchet distance in its closed-form cases and under rotations, on
// samples of one and of two distributions, the bootstrap; the classifier's shapes,
// pooling, float64 gradient check and file round trip.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>

#include "autodiff/gradcheck.h"
#include "nn/classifier.h"
#include "nn/safetensors.h"
#include "tests/helpers.h"
#include "vdm/sample_quality.h"

using namespace vdm;

namespace {

// A (rows, cols) matrix of N(0, 1) values, reproducible from the seed.
Matrix random_matrix(int64_t rows, int64_t cols, uint64_t seed) {
    return Matrix(rows, cols, test::randn(Shape{rows, cols}, seed).to_vector());
}

Matrix transpose(const Matrix& a) {
    Matrix t(a.cols, a.rows);
    for (int64_t i = 0; i < a.rows; ++i)
        for (int64_t j = 0; j < a.cols; ++j) t(j, i) = a(i, j);
    return t;
}

Matrix random_symmetric(int64_t n, uint64_t seed) {
    Matrix a = random_matrix(n, n, seed), s(n, n);
    for (int64_t i = 0; i < n; ++i)
        for (int64_t j = 0; j < n; ++j) s(i, j) = 0.5 * (a(i, j) + a(j, i));
    return s;
}

// A random orthogonal matrix: Gram-Schmidt (twice, for orthogonality to round-off) on
// the columns of a Gaussian matrix. Independent of the eigensolver under test.
Matrix random_orthogonal(int64_t n, uint64_t seed) {
    Matrix q = random_matrix(n, n, seed);
    for (int64_t j = 0; j < n; ++j) {
        for (int pass = 0; pass < 2; ++pass)
            for (int64_t k = 0; k < j; ++k) {
                double dot = 0.0;
                for (int64_t i = 0; i < n; ++i) dot += q(i, j) * q(i, k);
                for (int64_t i = 0; i < n; ++i) q(i, j) -= dot * q(i, k);
            }
        double norm = 0.0;
        for (int64_t i = 0; i < n; ++i) norm += q(i, j) * q(i, j);
        for (int64_t i = 0; i < n; ++i) q(i, j) /= std::sqrt(norm);
    }
    return q;
}

// Q diag(values) Q^T.
Matrix with_spectrum(const Matrix& q, const std::vector<double>& values) {
    Matrix scaled = q;
    for (int64_t i = 0; i < q.rows; ++i)
        for (int64_t k = 0; k < q.cols; ++k) scaled(i, k) *= values[size_t(k)];
    return multiply(scaled, transpose(q));
}

double max_abs_difference(const Matrix& a, const Matrix& b) {
    REQUIRE(a.rows == b.rows);
    REQUIRE(a.cols == b.cols);
    double worst = 0.0;
    for (size_t i = 0; i < a.data.size(); ++i) worst = std::max(worst, std::abs(a.data[i] - b.data[i]));
    return worst;
}

Matrix identity(int64_t n) {
    Matrix m(n, n);
    for (int64_t i = 0; i < n; ++i) m(i, i) = 1.0;
    return m;
}

// A Gaussian with the given mean and covariance (a copy of both).
Gaussian gaussian(std::vector<double> mean, Matrix covariance) { return {std::move(mean), std::move(covariance)}; }

// n draws of mean + L xi, xi ~ N(0, I): rows of an (n, d) matrix.
Matrix draw(int64_t n, const std::vector<double>& mean, const Matrix& l, uint64_t seed) {
    const int64_t d = l.rows;
    Matrix xi = random_matrix(n, d, seed), x = multiply(xi, transpose(l));
    for (int64_t i = 0; i < n; ++i)
        for (int64_t j = 0; j < d; ++j) x(i, j) += mean[size_t(j)];
    return x;
}

ClassifierConfig tiny_classifier() {
    ClassifierConfig c;
    c.height = c.width = 8;
    c.channels = 2;
    c.features = 5;
    c.classes = 3;
    return c;
}

}  // namespace

TEST_CASE("symmetric_eigen rebuilds random symmetric matrices from orthonormal eigenvectors") {
    for (int64_t n : {1, 2, 3, 7, 40, 128}) {
        CAPTURE(n);
        const Matrix a = random_symmetric(n, uint64_t(100 + n));
        const SymmetricEigen e = symmetric_eigen(a);
        REQUIRE(int64_t(e.values.size()) == n);
        CHECK(std::is_sorted(e.values.begin(), e.values.end()));
        // A = V diag(values) V^T and V^T V = I, to round-off
        CHECK(max_abs_difference(with_spectrum(e.vectors, e.values), a) < 1e-12 * double(n));
        CHECK(max_abs_difference(multiply(transpose(e.vectors), e.vectors), identity(n)) <
              1e-13 * double(n));
        // the values alone (no vectors accumulated) are the same
        const SymmetricEigen values_only = symmetric_eigen(a, false);
        CHECK(values_only.vectors.data.empty());
        for (int64_t k = 0; k < n; ++k)
            CHECK(values_only.values[size_t(k)] == doctest::Approx(e.values[size_t(k)]).epsilon(1e-12));
    }
}

TEST_CASE("symmetric_eigen finds known spectra: repeated, zero, negative, wide-ranging values") {
    // [[2, 1], [1, 2]] has eigenvalues 1 and 3, eigenvectors (1, -1) and (1, 1) / sqrt 2
    const SymmetricEigen two = symmetric_eigen(Matrix(2, 2, {2, 1, 1, 2}));
    CHECK(two.values[0] == doctest::Approx(1.0).epsilon(1e-15));
    CHECK(two.values[1] == doctest::Approx(3.0).epsilon(1e-15));
    CHECK(std::abs(two.vectors(0, 1)) == doctest::Approx(std::sqrt(0.5)).epsilon(1e-15));
    CHECK(two.vectors(0, 1) * two.vectors(1, 1) > 0.0);  // (1, 1) direction for 3
    CHECK(two.vectors(0, 0) * two.vectors(1, 0) < 0.0);  // (1, -1) direction for 1

    const std::vector<std::vector<double>> spectra = {
        {5.0, 5.0, 5.0, 1.0, 1.0, 0.0, -2.0, -2.0},               // repeated, zero, negative
        {1e-8, 1e-4, 1.0, 1e2, 1e4, 3.0, 3.0 + 1e-9, 7.0, 11.0},  // wide range, near-tie
    };
    uint64_t seed = 200;
    for (const std::vector<double>& spectrum : spectra) {
        const int64_t n = int64_t(spectrum.size());
        const Matrix a = with_spectrum(random_orthogonal(n, seed++), spectrum);
        std::vector<double> expected = spectrum;
        std::sort(expected.begin(), expected.end());
        const SymmetricEigen e = symmetric_eigen(a);
        const double scale = std::max(std::abs(expected.front()), std::abs(expected.back()));
        for (int64_t k = 0; k < n; ++k) {
            CAPTURE(k);
            CHECK(std::abs(e.values[size_t(k)] - expected[size_t(k)]) < 1e-13 * scale);
        }
    }
    // a diagonal matrix is its own decomposition
    const SymmetricEigen diag = symmetric_eigen(Matrix(3, 3, {4, 0, 0, 0, -1, 0, 0, 0, 2}));
    CHECK(diag.values == std::vector<double>{-1, 2, 4});
}

TEST_CASE("symmetric_eigen refuses a matrix that is not square, not symmetric or not finite") {
    test::check_error([] { symmetric_eigen(Matrix(2, 3)); }, "not square");
    test::check_error([] { symmetric_eigen(Matrix(2, 2, {1, 2, 3, 1})); }, "not symmetric");
    test::check_error([] { symmetric_eigen(Matrix(2, 2, {1, 0, 0, NAN})); }, "NaN or Inf");
}

TEST_CASE("psd_sqrt squared gives back the matrix; round-off negatives are clamped and counted") {
    // full rank, and rank 6 of 20 (its zero eigenvalues come out as +-round-off)
    for (int64_t rank : {20, 6}) {
        CAPTURE(rank);
        const Matrix b = random_matrix(20, rank, uint64_t(300 + rank));
        const Matrix a = multiply(b, transpose(b));
        Clamped clamped;
        const Matrix root = psd_sqrt(a, &clamped);
        CHECK(max_abs_difference(root, transpose(root)) == 0.0);
        CHECK(max_abs_difference(multiply(root, root), a) < 1e-11);
        double trace_of_root = trace(root);
        CHECK(trace_psd_sqrt(a) == doctest::Approx(trace_of_root).epsilon(1e-10));
        CHECK(clamped.count <= 20 - rank);
        CHECK(clamped.worst_relative <= 1e-9);
    }
    // a known spectrum: sqrt of each eigenvalue, a tiny negative one clamped to 0
    const Matrix q = random_orthogonal(4, 310);
    Clamped clamped;
    const Matrix root = psd_sqrt(with_spectrum(q, {9.0, 4.0, 1.0, -1e-14}), &clamped);
    CHECK(max_abs_difference(root, with_spectrum(q, {3.0, 2.0, 1.0, 0.0})) < 1e-13);
    CHECK(clamped.count == 1);
    CHECK(clamped.worst_relative == doctest::Approx(1e-14 / 9.0).epsilon(1e-3));
    // a clearly negative eigenvalue is not round-off: an error
    test::check_error([&] { psd_sqrt(with_spectrum(q, {9.0, 4.0, 1.0, -1e-3})); },
                      "positive semidefinite");
}

TEST_CASE("fit_gaussian: the mean and the unbiased covariance") {
    const Gaussian g = fit_gaussian(Matrix(3, 2, {1, 2, 3, 6, 5, 1}));
    CHECK(g.mean[0] == doctest::Approx(3.0));
    CHECK(g.mean[1] == doctest::Approx(3.0));
    // deviations (-2, -1), (0, 3), (2, -2): sums of products / (3 - 1)
    CHECK(g.covariance(0, 0) == doctest::Approx(4.0));
    CHECK(g.covariance(1, 1) == doctest::Approx(7.0));
    CHECK(g.covariance(0, 1) == doctest::Approx(-1.0));
    CHECK(g.covariance(1, 0) == doctest::Approx(-1.0));
    test::check_error([] { fit_gaussian(Matrix(1, 2)); }, "at least 2 rows");
    test::check_error([] { fit_gaussian(Matrix(2, 1, {1.0, INFINITY})); }, "row 1 holds a NaN or Inf");
}

TEST_CASE("the Frechet distance in its closed-form cases, and under a rotation of both") {
    const int64_t d = 6;
    const Matrix b = random_matrix(d, d, 400);
    const Matrix s = multiply(b, transpose(b));
    const std::vector<double> mu1 = {1, -2, 0.5, 0, 3, -1}, mu2 = {0, 1, 0.5, 2, 2, -1};
    double mean_term = 0.0;
    for (int64_t j = 0; j < d; ++j) mean_term += (mu1[size_t(j)] - mu2[size_t(j)]) * (mu1[size_t(j)] - mu2[size_t(j)]);

    SUBCASE("equal Gaussians: 0") {
        CHECK(std::abs(frechet_distance(gaussian(mu1, s), gaussian(mu1, s))) < 1e-11);
    }
    SUBCASE("the same covariance: |mu1 - mu2|^2") {
        CHECK(frechet_distance(gaussian(mu1, s), gaussian(mu2, s)) ==
              doctest::Approx(mean_term).epsilon(1e-11));
    }
    SUBCASE("diagonal covariances: sum (sqrt a - sqrt b)^2 + the mean term, also rotated") {
        const std::vector<double> a = {1, 4, 0.25, 9, 2, 1e-3}, c = {4, 1, 1, 9, 8, 0};
        double expected = mean_term;
        for (int64_t j = 0; j < d; ++j) {
            const double diff = std::sqrt(a[size_t(j)]) - std::sqrt(c[size_t(j)]);
            expected += diff * diff;
        }
        const Matrix da = with_spectrum(identity(d), a), dc = with_spectrum(identity(d), c);
        CHECK(frechet_distance(gaussian(mu1, da), gaussian(mu2, dc)) ==
              doctest::Approx(expected).epsilon(1e-12));
        // x -> Q x for both: means Q mu, covariances Q S Q^T; the distance is unchanged.
        // The eigenvalue 0 of S1^{1/2} S2 S1^{1/2} now comes out as +-1e-16, whose square
        // root is 1e-8: that is the accuracy to expect next to a zero variance.
        const Matrix q = random_orthogonal(d, 410);
        auto rotate = [&](const std::vector<double>& mu) {
            return multiply(q, Matrix(d, 1, mu)).data;
        };
        CHECK(std::abs(frechet_distance(gaussian(rotate(mu1), with_spectrum(q, a)),
                                        gaussian(rotate(mu2), with_spectrum(q, c))) -
                       expected) < 1e-7);
    }
    SUBCASE("general covariances: unchanged by a rotation of both, and symmetric") {
        const Matrix b2 = random_matrix(d, d, 420);
        const Matrix s2 = multiply(b2, transpose(b2));
        const double fd = frechet_distance(gaussian(mu1, s), gaussian(mu2, s2));
        CHECK(fd > mean_term);  // different covariances add a positive term
        CHECK(frechet_distance(gaussian(mu2, s2), gaussian(mu1, s)) == doctest::Approx(fd).epsilon(1e-11));
        const Matrix q = random_orthogonal(d, 430);
        auto rotate_mean = [&](const std::vector<double>& mu) { return multiply(q, Matrix(d, 1, mu)).data; };
        auto rotate_cov = [&](const Matrix& c) { return multiply(multiply(q, c), transpose(q)); };
        Gaussian ra = gaussian(rotate_mean(mu1), rotate_cov(s)), rb = gaussian(rotate_mean(mu2), rotate_cov(s2));
        for (Matrix* c : {&ra.covariance, &rb.covariance})  // symmetric to the last bit
            for (int64_t i = 0; i < d; ++i)
                for (int64_t j = 0; j < i; ++j) (*c)(i, j) = (*c)(j, i);
        CHECK(frechet_distance(ra, rb) == doctest::Approx(fd).epsilon(1e-10));
    }
}

TEST_CASE("the Frechet distance of two samples of one distribution is small, of shifted ones large") {
    const int64_t n = 4000, d = 8;
    Matrix l = random_matrix(d, d, 500);  // covariance L L^T, trace about 16
    for (double& x : l.data) x *= 0.5;
    const std::vector<double> zero(size_t(d), 0.0), shifted(size_t(d), 1.0);  // |shift|^2 = 8
    const Gaussian a = fit_gaussian(draw(n, zero, l, 501));
    const double same = frechet_distance(a, fit_gaussian(draw(n, zero, l, 502)));
    const double apart = frechet_distance(a, fit_gaussian(draw(n, shifted, l, 503)));
    CAPTURE(same);
    CAPTURE(apart);
    CHECK(same > 0.0);
    CHECK(same < 0.05);   // the finite-sample floor: O(d^2 / n) of the covariance scale
    CHECK(apart == doctest::Approx(8.0).epsilon(0.1));
}

TEST_CASE("confident_share counts the rows whose largest probability is at least 0.9") {
    const Matrix p(4, 3, {0.95, 0.03, 0.02, 0.5, 0.4, 0.1, 0.0, 0.9, 0.1, 0.3, 0.3, 0.4});
    CHECK(confident_share(p) == doctest::Approx(0.5));
    CHECK(confident_share(p, 0.45) == doctest::Approx(0.75));
}

TEST_CASE("sample_quality: the point estimates, and a bootstrap that is seeded and sized right") {
    const int64_t n = 400, d = 4;
    const Matrix l = random_matrix(d, d, 600);
    const Matrix samples = draw(n, std::vector<double>(size_t(d), 0.3), l, 601);
    const Matrix references = draw(n, std::vector<double>(size_t(d), 0.0), l, 602);
    Matrix probabilities(n, 2);  // every 4th row confident: the share is 1/4
    for (int64_t i = 0; i < n; ++i) probabilities(i, 0) = i % 4 == 0 ? 0.97 : 0.6;
    for (int64_t i = 0; i < n; ++i) probabilities(i, 1) = 1.0 - probabilities(i, 0);

    const SampleQuality q = sample_quality(samples, probabilities, references, 200, 7);
    CHECK(q.n == n);
    CHECK(q.bootstrap == 200);
    CHECK(q.fid == doctest::Approx(frechet_distance(fit_gaussian(samples), fit_gaussian(references))).epsilon(1e-12));
    CHECK(q.confident_share == doctest::Approx(0.25));
    // the bootstrap standard error of a proportion is close to sqrt(p (1 - p) / n)
    CHECK(q.confident_share_stderr == doctest::Approx(std::sqrt(0.25 * 0.75 / double(n))).epsilon(0.2));
    CHECK(q.fid_stderr > 0.0);
    CHECK(q.fid_stderr < q.fid);

    const SampleQuality again = sample_quality(samples, probabilities, references, 200, 7);
    CHECK(again.fid_stderr == q.fid_stderr);
    CHECK(again.confident_share_stderr == q.confident_share_stderr);
    const SampleQuality other = sample_quality(samples, probabilities, references, 200, 8);
    CHECK(other.fid == q.fid);
    CHECK(other.fid_stderr != q.fid_stderr);

    test::check_error([&] { sample_quality(samples, probabilities, references, 1, 7); },
                      "at least 2 resamples");
    test::check_error([&] { sample_quality(samples, probabilities, select_rows(references, {0, 1}), 5, 7); },
                      "400 samples but 2 reference images");
}

TEST_CASE("classifier: shapes of features and logits, and 2x2 average pooling") {
    // pooling: each output is the mean of its 2x2 block
    const Tensor x = Tensor::from_vector(Shape{1, 2, 2, 4},
                                         {1, 2, 3, 4, 5, 6, 7, 8, 10, 20, 30, 40, 50, 60, 70, 80}, DType::F64);
    const std::vector<double> pooled = average_pool_2x2(Var(x)).value().to_vector();
    CHECK(average_pool_2x2(Var(x)).shape() == Shape{1, 2, 1, 2});
    CHECK(pooled == std::vector<double>{3.5, 5.5, 35, 55});
    test::check_error([] { average_pool_2x2(Var(Tensor::zeros(Shape{1, 1, 3, 4}))); }, "H and W even");

    Rng rng(1);
    const ClassifierConfig config;  // the default: 1x28x28, 16 channels, 128 features, 10 classes
    Classifier model(config, DType::F32, rng);
    const Var input(test::randn(Shape{3, 1, 28, 28}, 2, 1.0, DType::F32));
    CHECK(model.features(input).shape() == Shape{3, 128});
    CHECK(model.logits(input).shape() == Shape{3, 10});
    CHECK(model.parameter_count() == 16 * 9 + 16 + 32 * 16 * 9 + 32 + 32 * 49 * 128 + 128 + 128 * 10 + 10);
    test::check_error([&] { model.features(Var(Tensor::zeros(Shape{3, 1, 28, 24}))); },
                      "expected (B, 1, 28, 28)");
    ClassifierConfig odd = config;
    odd.height = 30;
    test::check_error([&] { Classifier bad(odd, DType::F32, rng); }, "multiples of 4");

    // classify: features and probabilities per image, in batches of any size
    std::vector<uint8_t> pixels(5 * 784);
    for (size_t i = 0; i < pixels.size(); ++i) pixels[i] = uint8_t((i * 37) % 256);
    const ClassifierOutputs all = classify(model, pixels.data(), 5), batched = classify(model, pixels.data(), 5, 2);
    CHECK(all.features.size() == 5 * 128);
    REQUIRE(all.probabilities.size() == 5 * 10);
    for (int64_t i = 0; i < 5; ++i) {
        double total = 0.0;
        for (int64_t k = 0; k < 10; ++k) total += all.probabilities[size_t(i * 10 + k)];
        CHECK(total == doctest::Approx(1.0).epsilon(1e-6));
    }
    for (size_t i = 0; i < all.features.size(); ++i)
        CHECK(all.features[i] == doctest::Approx(batched.features[i]).epsilon(1e-6));
}

TEST_CASE("classifier: the cross-entropy loss passes a float64 gradient check") {
    Rng rng(3);
    Classifier model(tiny_classifier(), DType::F64, rng);
    std::vector<Var> leaves;
    for (const Parameter& p : model.parameters()) leaves.push_back(p.var);
    Var input(test::randn(Shape{2, 1, 8, 8}, 4), true);
    leaves.push_back(input);
    const Tensor labels = Tensor::from_vector(Shape{2}, {2, 0}, DType::I32);
    GradCheckResult r = gradcheck_leaves(
        [&](const std::vector<Var>&) { return cross_entropy(model.logits(input), labels); }, leaves);
    CAPTURE(r.worst);
    CHECK(r.passed);
    r = gradcheck([](const std::vector<Var>& v) { return average_pool_2x2(v[0]); },
                  {test::randn(Shape{2, 3, 4, 6}, 5)});
    CAPTURE(r.worst);
    CHECK(r.passed);
}

TEST_CASE("classifier: a saved file loads back the same network, and other files are refused") {
    test::TempDir dir("vdm_classifier_");
    Rng rng(4);
    Classifier model(tiny_classifier(), DType::F32, rng);
    const std::string path = dir.file("c.safetensors");
    save_classifier(path, model, {{"dataset", "mnist"}, {"test_accuracy", "0.5"}});
    const LoadedClassifier loaded = load_classifier(path);
    CHECK(loaded.metadata.at("dataset") == "mnist");
    CHECK(loaded.metadata.at("features") == "5");
    CHECK(loaded.model->config.classes == 3);
    const Var input(test::randn(Shape{2, 1, 8, 8}, 6, 1.0, DType::F32));
    CHECK(loaded.model->logits(input).value().to_vector() == model.logits(input).value().to_vector());

    test::check_error([&] { load_classifier(dir.file("none.safetensors")); }, "none.safetensors");
    const std::string other = dir.file("other.safetensors");
    save_safetensors(other, {{"w", Tensor::zeros(Shape{2})}}, {{"format", "vdm.cpp checkpoint v1"}});
    test::check_error([&] { load_classifier(other); }, other, "not a vdm.cpp classifier v1 file");
    std::vector<NamedTensor> tensors;
    for (const Parameter& p : model.parameters()) tensors.push_back({p.name, p.var.value()});
    tensors.pop_back();
    save_safetensors(other, tensors, load_safetensors(path).metadata);
    test::check_error([&] { load_classifier(other); }, other, "a classifier of this config has 8");
}
