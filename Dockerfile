# tracuu gateway image: the same bootstrap as a developer machine, minus the tests.
FROM python:3.11-slim-bookworm
RUN apt-get update \
 && apt-get install -y --no-install-recommends ffmpeg espeak-ng \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /opt/tracuu
COPY . .
# The versions the tests ran with (requirements.lock), not whatever is newest today.
RUN pip install --no-cache-dir -c requirements.lock .
# Database, prompt versions and rendered sounds live on a volume.
VOLUME ["/var/lib/tracuu"]
ENV TRACUU_DATABASE=/var/lib/tracuu/tracuu.sqlite3 \
    TRACUU_SOUNDS_DIR=/var/lib/tracuu/sounds \
    TRACUU_AGI_HOST=0.0.0.0 \
    TRACUU_HTTP_HOST=127.0.0.1
EXPOSE 4573 8080
CMD ["tracuu", "serve"]
