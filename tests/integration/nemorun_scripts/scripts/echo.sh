#!/bin/bash
echo "Hello from echo.sh, task $KUBERUN_TASK"
