"""Reports rendered for CI: JUnit XML for test dashboards, Markdown for pull requests. Pure."""
