from hypothesis import given, settings, HealthCheck
from tests.inline_programs import programs, run_program, first_difference, show

@settings(max_examples=800, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(program=programs())
def test_det(program):
    a = run_program(program, inline=False)
    b = run_program(program, inline=False)
    d = first_difference(a, b)
    assert d is None, d + "\n" + show(a)
