// gongji-generate: writes a synthetic population's events as JSON Lines (see ops/generator.h).
#include <CLI/CLI.hpp>

#include <cstdio>
#include <iostream>
#include <optional>

#include "ops/generator.h"

int main(int argc, char** argv) {
  gongji::GeneratorOptions opt;
  CLI::App app{"gongji-generate: a realistic synthetic population of Weihai and its events, as JSON Lines on stdout.\n"
               "Deterministic: the same options always give the same bytes. It streams month by month: memory is\n"
               "about 24 bytes a person plus one month's events, whatever the span."};
  std::string from = gongji::format_month(opt.from), to = gongji::format_month(opt.to);
  std::optional<int> last_year;
  app.add_option("--people", opt.people, "insured persons, 1..9999999 (default 10000; Weihai: 2900000)");
  app.add_option("--seed", opt.seed, "random seed (default 20221201)");
  app.add_option("--from", from, "first month with visits, contributions and period closes (default 2022-12; "
                                 "policy window 2022-07..2027-06)");
  app.add_option("--to", to, "last such month (default 2023-12)");
  app.add_option("--last-year", last_year, "the same as --to YEAR-12");
  app.add_option("--late-share", opt.late_share, "chance that a claim is logged 3-10 weeks late (default 0.08)");
  bool no_contrib = false;
  app.add_flag("--no-contributions", no_contrib, "leave out monthly contributions");
  app.footer(gongji::generator_assumptions());
  CLI11_PARSE(app, argc, argv);
  opt.contributions = !no_contrib;
  for (const auto& [name, text] : {std::pair{"--from", from}, std::pair{"--to", to}})
    if (!gongji::parse_month(text)) {
      std::cerr << "gongji-generate: " << name << ": \"" << text << "\" is not a month YYYY-MM\n";
      return 2;
    }
  opt.from = *gongji::parse_month(from);
  opt.to = last_year ? gongji::make_month(*last_year, 12) : *gongji::parse_month(to);
  if (std::string why = gongji::check_generator_options(opt); !why.empty()) {
    std::cerr << "gongji-generate: " << why << "\n";
    return 2;
  }
  static char buf[1 << 20];
  std::setvbuf(stdout, buf, _IOFBF, sizeof buf);
  gongji::generate_population(opt, [](const std::string& line) {
    std::fwrite(line.data(), 1, line.size(), stdout);
    std::fputc('\n', stdout);
  });
  if (std::fflush(stdout) != 0) {
    std::perror("gongji-generate: stdout");
    return 1;
  }
  return 0;
}
