"""Defects found by an adversarial pass over stop 18's changes (the vectorized
tier's shared spare matrix, raw pointers in _batch and objectives, the lean
compiled descent, the suite's scheduler).  Each test states the promised
behaviour and failed while the defect was there."""
import weakref

import numpy as np
import pytest

import fastgrad
from fastgrad import reference


def _product(X):
    return X[:, 0] * X[:, 1]


def _weak_recorder():
    """(refs, f): a vectorized f that keeps a weak reference to each X it gets."""
    refs = []

    def weakly(X):
        refs.append(weakref.ref(X))
        return _product(X)

    return refs, weakly


def _points(array):
    """What an array (or a dead weak reference's None) holds, as lists."""
    return None if array is None else array.tolist()


# -- 1. a matrix of points f held by a weak reference was handed to the next call
#       (vectorized) or point (Python tier), whose points then overwrote what the
#       weak reference reached: the reference count does not show a weak one ----

def test_vectorized_matrix_held_weakly_by_f_is_never_written_again():
    refs, weakly = _weak_recorder()
    fastgrad.gradient(weakly, [1.0, 2.0], h=0.5, vectorized=True)
    # As when every call had its own matrix: freed with its evaluator.
    assert refs[0]() is None


def test_prepared_vectorized_matrix_held_weakly_by_f_keeps_its_points():
    refs, weakly = _weak_recorder()
    G = fastgrad.Gradient(weakly, h=0.5, vectorized=True)
    G([1.0, 2.0])
    held = refs[0]()  # a strong reference now, taken after the call
    seen = _points(held)
    refs.clear()
    g = G([3.0, 4.0])
    assert _points(held) == seen
    assert g.tolist() == reference.gradient(lambda p: p[0] * p[1], [3.0, 4.0], h=0.5)


def test_public_vectorized_matrix_held_weakly_keeps_its_points_through_later_calls():
    refs, weakly = _weak_recorder()
    fastgrad.gradient(weakly, [1.0, 2.0], h=0.5, vectorized=True)
    held = refs[0]()
    seen = _points(held)
    g = fastgrad.gradient(_product, [3.0, 4.0], h=0.5, vectorized=True)
    assert _points(held) == seen
    assert g.tolist() == [4.0, 3.0]


def test_prepared_python_tier_point_held_weakly_by_f_keeps_its_point():
    refs = []

    def weakly(x):
        refs.append(weakref.ref(x))
        return x[0] * x[1]

    G = fastgrad.Gradient(weakly, h=0.5)
    G([1.0, 2.0])
    held = [r() for r in refs]
    seen = [_points(a) for a in held]
    g = G([3.0, 4.0])
    assert [_points(a) for a in held] == seen
    assert g.tolist() == [4.0, 3.0]
