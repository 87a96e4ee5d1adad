"""Unit tests of the plugin's logic, without the host: `python3 -m unittest test_app`
(it stubs the generated `wit_world` modules, which exist only inside the component)."""

import sys
import types
import unittest

for name in ["wit_world", "wit_world.imports", "wit_world.imports.log",
             "wit_world.imports.types"]:
    sys.modules[name] = types.ModuleType(name)
sys.modules["wit_world"].WitWorld = object
sys.modules["wit_world.imports"].log = sys.modules["wit_world.imports.log"]
for attr in ["Capability", "Description", "Reply"]:
    setattr(sys.modules["wit_world.imports.types"], attr, None)

import app  # noqa: E402


class AnswerTest(unittest.TestCase):
    def test_replies(self):
        self.assertEqual(app.answer("hi"), "{{name}} heard: hi")

    def test_leaves_an_empty_message_for_a_human(self):
        self.assertIsNone(app.answer("  "))


if __name__ == "__main__":
    unittest.main()
