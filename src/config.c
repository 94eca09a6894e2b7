/* config.c - command-line flags (being written). */
