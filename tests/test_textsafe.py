from cloudward.textsafe import html_safe, terminal_safe


def test_terminal_escapes_are_made_visible():
    evil = "Mozilla\x1b[2J\x1b]0;pwned\x07 \u202eevil\r\nfake-ip 1.2.3.4"
    safe = terminal_safe(evil)
    assert "\x1b" not in safe and "\u202e" not in safe and "\n" not in safe and "\r" not in safe
    assert "\\x1b[2J" in safe and "\\u202e" in safe


def test_cut_and_html():
    assert terminal_safe("a" * 50, 10) == "a" * 9 + "…"
    assert html_safe('<script>alert("x")</script>') == "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;"
