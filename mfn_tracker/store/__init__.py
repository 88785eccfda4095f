"""Storage: the one writer, the reader, and the rules that keep day files safe and parseable.

Everything here that the write path touches is standard library only.
"""
