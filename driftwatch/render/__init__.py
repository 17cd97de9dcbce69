"""A report rendered for its reader: text for people, a JSON document for programs, JUnit XML
and Markdown for CI, fix SQL to review. All pure: the CLI prints, the daemon serves."""
