import pytest

import fastgrad
import fastgrad.reference

IMPLEMENTATIONS = {"fast": fastgrad, "reference": fastgrad.reference}


@pytest.fixture(params=sorted(IMPLEMENTATIONS), scope="session")
def impl(request):
    """The same test runs against the Cython-backed API and the pure-Python reference.

    Session scope: it is a pure parameter, so hypothesis tests may use it too.
    """
    return IMPLEMENTATIONS[request.param]
