"""Audit service: records every audit.action event in the relational store."""
