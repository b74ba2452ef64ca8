// Seeded random inputs for the C++ tests (std::mt19937, so runs repeat).
#pragma once
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

namespace f2gtest {

struct Rng {
  std::mt19937 gen;
  explicit Rng(unsigned seed) : gen(seed) {}
  float normal(float sd = 1.f) { return std::normal_distribution<float>(0.f, sd)(gen); }
  float uniform(float lo, float hi) { return std::uniform_real_distribution<float>(lo, hi)(gen); }
  bool bernoulli(double p) { return std::bernoulli_distribution(p)(gen); }
  std::vector<float> normals(std::size_t n, float sd = 1.f) {
    std::vector<float> v(n);
    for (float& x : v) x = normal(sd);
    return v;
  }
  std::vector<std::uint8_t> flags(std::size_t n, double p) {
    std::vector<std::uint8_t> v(n);
    for (auto& x : v) x = bernoulli(p) ? 1 : 0;
    return v;
  }
};

/// An episode [T,N,D] that moves through `stages` prototypes: frame t blends
/// prototype k into k+1 over its stage, plus noise, so the similarity to a
/// later frame rises in steps (non-trivial segmentations).
inline std::vector<float> staged_episode(Rng& r, std::size_t T, std::size_t N, std::size_t D,
                                         std::size_t stages, float noise) {
  std::vector<std::vector<float>> proto(stages + 1);
  for (auto& p : proto) p = r.normals(N * D);
  std::vector<float> x(T * N * D);
  for (std::size_t t = 0; t < T; ++t) {
    const double pos = static_cast<double>(t) * stages / static_cast<double>(T > 1 ? T : 1);
    const std::size_t k = static_cast<std::size_t>(pos);
    const float a = static_cast<float>(pos - k);
    for (std::size_t i = 0; i < N * D; ++i)
      x[t * N * D + i] = (1 - a) * proto[k][i] + a * proto[k + 1][i] + r.normal(noise);
  }
  return x;
}

/// |a − b| ≤ tol · (1 + |b|)
inline bool close_rel(double a, double b, double tol) {
  if (std::isnan(a) || std::isnan(b)) return std::isnan(a) && std::isnan(b);
  if (std::isinf(a) || std::isinf(b)) return a == b;
  return std::fabs(a - b) <= tol * (1.0 + std::fabs(b));
}

}  // namespace f2gtest
