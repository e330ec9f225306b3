"""The course as a whole: data, training CLI, build."""
