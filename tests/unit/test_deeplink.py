"""deeplink.py: reading a deep link's query, and checking its path (pure, no hub)."""
import pytest

from primehub_spawner.deeplink import MAX_PATH, DeepLink, page_url, path_problem, read_deep_link


@pytest.mark.parametrize("path", [
    pytest.param("lab/tree/notebooks/intro.ipynb", id="lab-notebook"),
    pytest.param("lab", id="one-step"),
    pytest.param("tree/", id="trailing-slash"),
    pytest.param("lab/tree/my notes/ü.ipynb", id="space-and-unicode"),
    pytest.param("lab/tree/a%2e%2e/b?.ipynb", id="percent-and-question-mark-are-names"),
    pytest.param("lab/tree/./a.ipynb", id="dot-step"),
    pytest.param("lab/tree/..a/b..", id="dots-inside-names"),
    pytest.param("lab/tree/x:y.ipynb", id="colon-after-the-first-step"),
    pytest.param("a" * MAX_PATH, id="longest"),
])
def test_paths_inside_the_server(path):
    assert path_problem(path) is None


@pytest.mark.parametrize("path, problem", [
    pytest.param("/etc/passwd", "it must be relative to your server, like "
                 "lab/tree/notebook.ipynb", id="absolute"),
    pytest.param("//evil.example/x", "it must be relative to your server, like "
                 "lab/tree/notebook.ipynb", id="protocol-relative"),
    pytest.param("..", "it steps out of your server with '..'", id="dot-dot"),
    pytest.param("lab/../../hub/admin", "it steps out of your server with '..'",
                 id="dot-dot-inside"),
    pytest.param("lab/..", "it steps out of your server with '..'", id="dot-dot-last"),
    pytest.param("lab//tree", "it contains an empty step (//)", id="empty-step"),
    pytest.param("lab\\..\\hub", "it contains a backslash", id="backslash"),
    pytest.param("https://evil.example/", "it names a scheme, not a page of your server",
                 id="url"),
    pytest.param("javascript:alert(1)", "it names a scheme, not a page of your server",
                 id="javascript"),
    pytest.param("lab\n/tree", "it contains control characters", id="newline"),
    pytest.param("lab/\x00", "it contains control characters", id="nul"),
    pytest.param("lab/\u202etxt.exe", "it contains control characters", id="bidi-override"),
    pytest.param("a" * (MAX_PATH + 1), f"it is longer than {MAX_PATH} characters",
                 id="too-long"),
])
def test_paths_that_are_refused(path, problem):
    assert path_problem(path) == problem


@pytest.mark.parametrize("server_url, path, url", [
    pytest.param("/user/alice/", "lab/tree/intro.ipynb", "/user/alice/lab/tree/intro.ipynb",
                 id="plain"),
    pytest.param("/user/alice/", "lab/tree/my notes/ü.ipynb",
                 "/user/alice/lab/tree/my%20notes/%C3%BC.ipynb", id="encoded"),
    pytest.param("/user/alice/", "tree/a?b#c%d", "/user/alice/tree/a%3Fb%23c%25d",
                 id="query-fragment-percent-stay-in-the-path"),
    pytest.param("https://alice.hub.example/user/alice/", "lab",
                 "https://alice.hub.example/user/alice/lab", id="subdomain-host"),
])
def test_page_url(server_url, path, url):
    assert page_url(server_url, path) == url


@pytest.mark.parametrize("arguments, expected", [
    pytest.param({}, DeepLink(preselect={"group": None, "instance_type": None, "image": None}),
                 id="none"),
    pytest.param({"group": ["research"], "instancetype": ["gpu-small"], "image": ["tf-gpu"],
                  "autolaunch": ["1"]},
                 DeepLink(preselect={"group": "research", "instance_type": "gpu-small",
                                     "image": "tf-gpu"}, autolaunch=True),
                 id="primehub-link"),
    pytest.param({"instance_type": ["cpu-2"], "autolaunch": ["yes"]},
                 DeepLink(preselect={"group": None, "instance_type": "cpu-2", "image": None}),
                 id="instance_type-spelling-autolaunch-only-1"),
    pytest.param({"instancetype": ["a"], "instance_type": ["b"]},
                 DeepLink(preselect={"group": None, "instance_type": "a", "image": None}),
                 id="instancetype-wins"),
    pytest.param({"group": ["first", "second", ""]},
                 DeepLink(preselect={"group": "second", "instance_type": None, "image": None}),
                 id="last-non-empty-value"),
    pytest.param({"group": [""], "path": [""]},
                 DeepLink(preselect={"group": None, "instance_type": None, "image": None}),
                 id="empty-values"),
    pytest.param({"next": ["/hub/home"], "display_name": ["x"], "_xsrf": ["t"]},
                 DeepLink(preselect={"group": None, "instance_type": None, "image": None}),
                 id="jupyterhubs-own-arguments-are-no-notice"),
    pytest.param({"path": ["lab/tree/a.ipynb"]},
                 DeepLink(preselect={"group": None, "instance_type": None, "image": None},
                          path="lab/tree/a.ipynb"),
                 id="path"),
    pytest.param({"path": ["../x"]},
                 DeepLink(preselect={"group": None, "instance_type": None, "image": None},
                          notices=(("The link's path '../x' is not used: it steps out of your "
                                   "server with '..'. Your server opens at its start page."),)),
                 id="bad-path-dropped"),
    pytest.param({"path": ["lab"], "next": ["/hub/home"]},
                 DeepLink(preselect={"group": None, "instance_type": None, "image": None},
                          notices=(("The link's path 'lab' is not used: the link also says "
                                   "where to go next. Your server opens at its start page."),)),
                 id="path-and-next"),
    pytest.param({"cpu": ["64"]},
                 DeepLink(preselect={"group": None, "instance_type": None, "image": None},
                          notices=(("The link's argument 'cpu' is not known here and was "
                                   "ignored."),)),
                 id="one-unknown"),
    pytest.param({k: ["1"] for k in "gfedcba"},
                 DeepLink(preselect={"group": None, "instance_type": None, "image": None},
                          notices=(("The link's arguments 'a', 'b', 'c', 'd', 'e' and 2 more "
                                   "are not known here and were ignored."),)),
                 id="many-unknown-cut"),
])
def test_read_deep_link(arguments, expected):
    assert read_deep_link(arguments) == expected


def test_long_values_are_cut_in_notices():
    link = read_deep_link({"x" * 500: ["1"], "path": ["/" + "p" * 2000]})
    assert all(len(notice) < 250 for notice in link.notices)
    assert link.path == ""
