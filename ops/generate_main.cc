// gongji-generate: writes a synthetic population's events as JSON Lines (see ops/generator.h).
#include <CLI/CLI.hpp>

#include <iostream>

#include "ops/generator.h"

int main(int argc, char** argv) {
  gongji::GeneratorOptions opt;
  CLI::App app{"gongji-generate: a realistic synthetic population and its year(s) of events, as JSON Lines on stdout.\n"
               "Deterministic: the same options always give the same events."};
  app.add_option("--people", opt.people, "insured persons (default 10000)");
  app.add_option("--seed", opt.seed, "random seed");
  app.add_option("--last-year", opt.last_year, "generate visits from 2022-12-01 through this year (default 2023)");
  bool no_contrib = false;
  app.add_flag("--no-contributions", no_contrib, "leave out monthly contributions");
  CLI11_PARSE(app, argc, argv);
  opt.contributions = !no_contrib;
  std::ios::sync_with_stdio(false);
  gongji::generate_population(opt, [](const std::string& line) { std::cout << line << '\n'; });
  return 0;
}
