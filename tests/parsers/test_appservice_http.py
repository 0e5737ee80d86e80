"""Azure Monitor AppServiceHTTPLogs: Log Analytics rows and diagnostic-settings records."""

from web_annotated import check

from cloudward.parsers.appservice_http import site_from_resource_id


def test_annotated_appservice_http():
    check("appservice_http.jsonl", "appservice-http")


def test_site_from_resource_id():
    rid = "/subscriptions/1/resourceGroups/rg/providers/Microsoft.Web/sites/Shop/slots/Blue"
    assert site_from_resource_id(rid) == "shop-blue"
    assert site_from_resource_id("/subscriptions/1/resourceGroups/rg") == ""
