"""ECS JSON lines with http/url/source fields, nested or dotted."""

from web_annotated import check

from cloudward.parsers.ecs_http import field


def test_annotated_ecs_http():
    check("ecs_http.jsonl", "ecs-http")


def test_field_reads_nested_dotted_and_mixed_keys():
    assert field({"a": {"b": {"c": 1}}}, "a.b.c") == 1
    assert field({"a.b.c": 2}, "a.b.c") == 2
    assert field({"a": {"b.c": 3}}, "a.b.c") == 3
    assert field({"a": 1}, "a.b") is None
