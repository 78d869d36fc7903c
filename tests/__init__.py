import pytest

# Before conftest.py first imports from tests/support, so the helpers' asserts explain themselves like a test's.
pytest.register_assert_rewrite("tests.support")
