"""Course: the instructor's page (a course file, lesson links, the gradebook), behind a login or a password.

A thin page: app.instructor draws it; app.course does the checking, building and reading.
"""

from app.instructor import render

render()
