/* checksum helpers: being written */
