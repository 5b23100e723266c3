# Robot-side PC image (G1 PC2 or a laptop on the robot network): ROS 2 Humble, CycloneDDS 0.10.x,
# controller and camera nodes; no torch. Build from the repository root:
#   docker build -f docker/Dockerfile.robot -t dit4dit/robot .
FROM ros:humble-ros-base

ENV DEBIAN_FRONTEND=noninteractive LANG=C.UTF-8 LC_ALL=C.UTF-8
RUN apt-get update && apt-get install -y --no-install-recommends \
        ros-humble-rmw-cyclonedds-cpp ros-humble-diagnostic-msgs ros-humble-trajectory-msgs \
        python3-pip python3-colcon-common-extensions v4l-utils \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /opt/dit4dit
COPY setup.py setup.cfg pyproject.toml package.xml README.md ./
COPY resource/ resource/
COPY dit4dit_policy/ dit4dit_policy/
COPY launch/ launch/
COPY config/ config/
COPY urdf/ urdf/
COPY calibration/ calibration/
RUN python3 -m pip install --no-cache-dir "cyclonedds==0.10.2" && \
    python3 -m pip install --no-cache-dir -e ".[robot,data]"

COPY ros2_ws/README.md ros2_ws/README.md
RUN mkdir -p ros2_ws/src && ln -s /opt/dit4dit ros2_ws/src/dit4dit_policy && \
    . /opt/ros/humble/setup.sh && cd ros2_ws && colcon build --symlink-install

COPY docker/cyclonedds_robot.xml /etc/dit4dit/cyclonedds_robot.xml
COPY docker/entrypoint.sh /entrypoint.sh
ENV RMW_IMPLEMENTATION=rmw_cyclonedds_cpp \
    CYCLONEDDS_URI=file:///etc/dit4dit/cyclonedds_robot.xml
ENTRYPOINT ["/entrypoint.sh"]
CMD ["bash"]
