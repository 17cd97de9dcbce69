"""Configuration: the settings' schema, where they are read from, secrets, and the targets.

Settings are validated once here and end here: `targets.build_targets` turns them into plain
`Target` values, and the core modules never import the settings.
"""
