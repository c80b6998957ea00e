"""devshell's built-in modules (``base``); this folder is always first on the addons path."""
