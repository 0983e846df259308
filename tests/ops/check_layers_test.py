#!/usr/bin/env python3
"""ops/check_layers.py on small trees made here (issue 9 item 6): each way a module could reach what its target does
not link is reported, and a clean tree passes.

Usage: check_layers_test.py SOURCE_DIR
"""
import importlib.util
import pathlib
import sys
import tempfile
import unittest

SOURCE = pathlib.Path(sys.argv.pop(1) if len(sys.argv) > 1 else ".")
spec = importlib.util.spec_from_file_location("check_layers", SOURCE / "ops" / "check_layers.py")
layers = importlib.util.module_from_spec(spec)
spec.loader.exec_module(layers)


def problems(files):
    """check_layers' findings on a tree holding `files` ({path: text}) beside a clean ledger/ and events/."""
    with tempfile.TemporaryDirectory() as d:
        root = pathlib.Path(d)
        tree = {"events/event.h": "#include <string>\n", "ledger/rules.cc": '#include "events/event.h"\n'}
        tree.update(files)
        for path, text in tree.items():
            (root / path).parent.mkdir(parents=True, exist_ok=True)
            (root / path).write_text(text, encoding="utf-8")
        return layers.check(root) + layers.check_transitive(root)


JSON_HEADER = {"events/event_json.h": '#include <nlohmann/json.hpp>\n#include "events/event.h"\n'}


class CheckLayers(unittest.TestCase):
    def test_a_clean_tree_passes(self):
        self.assertEqual(problems({}), [])
        self.assertEqual(problems(JSON_HEADER), [])  # events/ may include JSON

    def test_a_library_included_directly(self):
        found = problems({"ledger/a.cc": "#include <nlohmann/json.hpp>\n"})
        self.assertEqual(len(found), 1)
        self.assertIn("ledger/a.cc:1: ledger/ includes json (json)", found[0])

    def test_a_library_reached_through_another_module_s_header(self):
        found = problems({**JSON_HEADER, "ledger/a.cc": '#include "events/event_json.h"\n'})
        self.assertEqual(found, ["ledger/a.cc:1: ledger/ reaches json, which its target does not link, through "
                                 "events/event_json.h -> <nlohmann/json.hpp>"])

    def test_a_project_header_in_angle_brackets_is_the_tree_s(self):
        found = problems({**JSON_HEADER, "ledger/a.cc": "#include <events/event_json.h>\n",
                          "ledger/b.cc": "#include <projections/store.h>\n", "projections/store.h": "\n"})
        self.assertTrue(any("ledger/a.cc:1: ledger/ reaches json" in f for f in found), found)
        self.assertTrue(any("ledger/b.cc:1: ledger/ includes projections/store.h, of module projections/" in f
                            for f in found), found)

    def test_a_generated_header_reaches_flatbuffers(self):
        found = problems({"ledger/a.cc": '#include "events/events_generated.h"\n',
                          "events/codec.h": '#include "events/outputs_generated.h"\n',
                          "ledger/b.cc": '#include "events/codec.h"\n'})
        self.assertTrue(any("ledger/a.cc:1: ledger/ includes events/events_generated.h (flatbuffers)" in f
                            for f in found), found)
        self.assertTrue(any("ledger/b.cc:1: ledger/ reaches flatbuffers" in f for f in found), found)

    def test_a_header_included_beside_its_includer_is_followed(self):
        found = problems({**JSON_HEADER, "events/t.h": '#include "event_json.h"\n',
                          "ledger/a.cc": '#include "events/t.h"\n'})
        self.assertEqual(len(found), 1, found)
        self.assertIn("through events/t.h -> events/event_json.h -> <nlohmann/json.hpp>", found[0])

    def test_a_header_found_nowhere_is_named(self):
        found = problems({"ledger/a.cc": '#include "nowhere.h"\n'})
        self.assertEqual(found, ["ledger/a.cc:1: nowhere.h is not in the tree (write project headers from the root: "
                                 "folder/x.h)"])


if __name__ == "__main__":
    unittest.main()
